from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from mozilla_django_oidc.views import OIDCLogoutView

from config.oidc_login import AuthenticationCallbackView, AuthenticationRequestView
from config.rest import ApiNotFound

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("catalog.api.urls")),
    path("", include("profiling.api.urls")),
    path("", include("lineage.api.urls")),
    path("", include("governance.api.urls")),
    # Last: anything else under /api/v1/ answers the JSON error shape, not an HTML page.
    re_path(r"^.*$", ApiNotFound.as_view(), name="api-not-found"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Single sign-on (config/oidc_login.py); the names are mozilla-django-oidc's.
    path("oidc/authenticate/", AuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", AuthenticationCallbackView.as_view(), name="oidc_authentication_callback"),
    path("oidc/logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
    path("", include("governance.urls")),
    path("", include("lineage.urls")),
    path("", include("profiling.urls")),
    path("", include("catalog.urls")),
]
