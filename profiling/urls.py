"""Profiling's web pages (the API is in profiling/api/urls.py)."""

from django.urls import include, path

from profiling import monitor_pages, privacy_pages, views

pages = [
    path("datasets/<int:pk>/profile/", views.profile_page_view, name="page"),
    path("datasets/<int:pk>/profile/panel/", views.profile_panel_view, name="panel"),
    path("datasets/<int:pk>/profile/status/", views.profile_status_view, name="status"),
    path("datasets/<int:pk>/versions/<int:number>/profile/rerun/", views.rerun_view, name="rerun"),
    path("datasets/<int:pk>/privacy/", privacy_pages.privacy_page_view, name="privacy"),
    path("datasets/<int:pk>/monitoring/", monitor_pages.monitoring_page_view, name="monitoring"),
    path("datasets/<int:pk>/monitoring/panel/", monitor_pages.monitoring_panel_view, name="monitoring-panel"),
    path("datasets/<int:pk>/monitoring/edit/", monitor_pages.monitor_edit_view, name="monitor-edit"),
    path("alerts/<int:pk>/acknowledge/", monitor_pages.alert_acknowledge_view, name="alert-acknowledge"),
    path("alerts/<int:pk>/resolve/", monitor_pages.alert_resolve_view, name="alert-resolve"),
]

urlpatterns = [path("", include((pages, "profiling")))]
