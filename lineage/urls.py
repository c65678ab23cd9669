"""Lineage's web pages (the API is in lineage/api/urls.py)."""

from django.urls import include, path

from lineage import views

pages = [
    path("lineage/", views.graph_view, name="graph"),
]

urlpatterns = [path("", include((pages, "lineage")))]
