"""Governance's web pages (the API is in governance/api/urls.py); the home page is "home"."""

from django.urls import include, path

from governance import views

pages: list = []

urlpatterns = [
    path("", views.home_view, name="home"),
    path("", include((pages, "governance"))),
]
