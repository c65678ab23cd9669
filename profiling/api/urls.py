from django.urls import path

from profiling.api import views

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
]
