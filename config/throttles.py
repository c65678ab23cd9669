"""Rate limits of the API (DRF throttles): writes per user, so that one token cannot flood the
catalog, the approval inbox or the audit trail. Reads are not limited here."""

from django.conf import settings
from rest_framework.throttling import UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class WriteRateThrottle(UserRateThrottle):
    """settings.API_WRITE_RATE writes per user (per address when anonymous); answered with 429
    and Retry-After. Read from settings at each request, so that a deployment or a test can
    change it without re-importing DRF's settings."""

    scope = "writes"

    def get_rate(self) -> str | None:
        return settings.API_WRITE_RATE

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
