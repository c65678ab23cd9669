"""Profiling's web pages (the API is in profiling/api/urls.py)."""

from django.urls import include, path

from profiling import views

pages = [
    path("datasets/<int:pk>/profile/", views.profile_page_view, name="page"),
    path("datasets/<int:pk>/profile/panel/", views.profile_panel_view, name="panel"),
    path("datasets/<int:pk>/profile/status/", views.profile_status_view, name="status"),
    path("datasets/<int:pk>/versions/<int:number>/profile/rerun/", views.rerun_view, name="rerun"),
]

urlpatterns = [path("", include((pages, "profiling")))]
