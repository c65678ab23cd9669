from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from profiling.api import monitor_views, privacy_views, views

# API.md writes actions without a trailing slash (.../acknowledge); accept both spellings.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("alerts", monitor_views.AlertViewSet, basename="alert")

urlpatterns = [
    path(
        "datasets/<int:dataset_pk>/versions/<int:number>/profile/",
        views.ProfileView.as_view(),
        name="version-profile",
    ),
    path(
        "datasets/<int:dataset_pk>/versions/<int:number>/profile/warnings/",
        views.ProfileWarningsView.as_view(),
        name="version-profile-warnings",
    ),
    path(
        "datasets/<int:dataset_pk>/expectation-suite/",
        views.ExpectationSuiteView.as_view(),
        name="dataset-expectation-suite",
    ),
    path(
        "datasets/<int:dataset_pk>/expectation-suite/import/",
        views.ExpectationSuiteImportView.as_view(),
        name="dataset-expectation-suite-import",
    ),
    path(
        "datasets/<int:dataset_pk>/quality-history/",
        views.QualityHistoryView.as_view(),
        name="dataset-quality-history",
    ),
    path(
        "datasets/<int:dataset_pk>/privacy/bounds/",
        privacy_views.PrivacyBoundsView.as_view(),
        name="dataset-privacy-bounds",
    ),
    path(
        "datasets/<int:dataset_pk>/versions/<int:number>/privacy/budget/",
        privacy_views.PrivacyBudgetView.as_view(),
        name="version-privacy-budget",
    ),
    path(
        "datasets/<int:dataset_pk>/versions/<int:number>/privacy/ledger/",
        privacy_views.PrivacyLedgerView.as_view(),
        name="version-privacy-ledger",
    ),
    re_path(
        r"^datasets/(?P<dataset_pk>[0-9]{1,18})/monitor/?$",
        monitor_views.MonitorView.as_view(),
        name="dataset-monitor",
    ),
    *router.urls,
]
