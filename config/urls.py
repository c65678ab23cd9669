from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("catalog.api.urls")),
    path("", include("profiling.api.urls")),
    path("", include("lineage.api.urls")),
    path("", include("governance.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("governance.urls")),
    path("", include("lineage.urls")),
    path("", include("profiling.urls")),
    path("", include("catalog.urls")),
]
