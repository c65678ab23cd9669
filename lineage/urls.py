"""Lineage's web pages (the API is in lineage/api/urls.py)."""

from django.urls import include, path

from lineage import impact_pages, views

pages = [
    path("lineage/", views.graph_view, name="graph"),
    path("lineage/impact/", impact_pages.impact_view, name="impact"),
    path("lineage/impact/notify/", impact_pages.impact_notify_view, name="impact-notify"),
]

urlpatterns = [path("", include((pages, "lineage")))]
