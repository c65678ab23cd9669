from django.urls import include, path
from rest_framework.routers import SimpleRouter

from catalog.api import hidden_namespace_views, source_views, views

router = SimpleRouter()
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register(
    "hidden-namespaces", hidden_namespace_views.HiddenNamespaceViewSet, basename="hidden-namespace"
)

# API.md writes actions without a trailing slash (/sources/{id}/test); accept both spellings.
sources = SimpleRouter()
sources.trailing_slash = "/?"
sources.register("sources", source_views.SourceViewSet, basename="source")

versions = SimpleRouter()
versions.register("versions", views.VersionViewSet, basename="dataset-version")
versions.register("columns", views.ColumnViewSet, basename="dataset-column")

urlpatterns = [
    *router.urls,
    *sources.urls,
    path("datasets/<int:dataset_pk>/", include(versions.urls)),
]
