from django.urls import include, path
from rest_framework.routers import SimpleRouter

from catalog.api import views

router = SimpleRouter()
router.register("datasets", views.DatasetViewSet, basename="dataset")

versions = SimpleRouter()
versions.register("versions", views.VersionViewSet, basename="dataset-version")
versions.register("columns", views.ColumnViewSet, basename="dataset-column")

urlpatterns = [
    *router.urls,
    path("datasets/<int:dataset_pk>/", include(versions.urls)),
]
