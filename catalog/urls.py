"""The catalog's web pages (the API is in catalog/api/urls.py), and signing in and out."""

from django.urls import include, path

from catalog import source_views, views

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
    path("datasets/<int:pk>/versions/<int:number>/delete/", views.version_delete_view, name="version-delete"),
    path("datasets/<int:pk>/columns/", views.columns_partial, name="columns"),
    path("datasets/<int:pk>/columns/<int:column_pk>/", views.column_row_view, name="column-row"),
    path("datasets/<int:pk>/columns/<int:column_pk>/edit/", views.column_edit_view, name="column-edit"),
    path("sources/", source_views.source_list_view, name="sources"),
    path("sources/new/", source_views.source_create_view, name="source-create"),
    path("sources/schedule-hint/", source_views.schedule_hint_view, name="source-schedule-hint"),
    path("sources/<int:pk>/", source_views.source_detail_view, name="source"),
    path("sources/<int:pk>/edit/", source_views.source_edit_view, name="source-edit"),
    path("sources/<int:pk>/delete/", source_views.source_delete_view, name="source-delete"),
    path("sources/<int:pk>/test/", source_views.source_test_view, name="source-test"),
    path("sources/<int:pk>/scan/", source_views.source_scan_view, name="source-scan-now"),
    path("sources/<int:pk>/scans/", source_views.scan_history_partial, name="source-scans"),
    path("sources/<int:pk>/scans/<int:scan_id>/", source_views.scan_status_view, name="source-scan"),
    path("sources/<int:pk>/datasets/", source_views.source_datasets_partial, name="source-datasets"),
]

urlpatterns = [
    path("", include((pages, "catalog"))),
    # Django's own sign-in / sign-out views, with templates/registration/login.html.
    path("accounts/", include("django.contrib.auth.urls")),
]
