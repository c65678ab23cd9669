"""The catalog's web pages (the API is in catalog/api/urls.py), and signing in and out."""

from django.urls import include, path

from catalog import views

pages = [
    path("datasets/", views.search_view, name="search"),
    path("datasets/facets/", views.search_facets_view, name="search-facets"),
    path("datasets/new/", views.dataset_create_view, name="dataset-create"),
    path("datasets/preview/", views.markdown_preview_view, name="markdown-preview"),
    path("datasets/<int:pk>/", views.dataset_detail_view, name="dataset"),
    path("datasets/<int:pk>/edit/", views.dataset_edit_view, name="dataset-edit"),
    path("datasets/<int:pk>/ownership/", views.dataset_ownership_view, name="dataset-ownership"),
    path("datasets/<int:pk>/versions/", views.versions_partial, name="versions"),
    path("datasets/<int:pk>/versions/upload/", views.version_upload_view, name="version-upload"),
    path("datasets/<int:pk>/columns/", views.columns_partial, name="columns"),
    path("datasets/<int:pk>/columns/<int:column_pk>/", views.column_row_view, name="column-row"),
    path("datasets/<int:pk>/columns/<int:column_pk>/edit/", views.column_edit_view, name="column-edit"),
]

urlpatterns = [
    path("", include((pages, "catalog"))),
    # Django's own sign-in / sign-out views, with templates/registration/login.html.
    path("accounts/", include("django.contrib.auth.urls")),
]
