"""API authentication. Kept apart from config.rest: DRF imports it while rest_framework.views loads."""

from rest_framework.authentication import TokenAuthentication


class BearerOrTokenAuthentication(TokenAuthentication):
    """DRF's token authentication accepting ``Bearer <key>`` too, as openlineage-python sends it."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            return self.authenticate_credentials(parts[1])
        return super().authenticate(request)

    def authenticate_header(self, request) -> str:
        return 'Token realm="api", Bearer realm="api"'
