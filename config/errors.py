"""Domain errors raised by services of every app; the API layer maps them to 4xx answers.

Services also raise django.core.exceptions.ValidationError for bad input (→ 400).
"""

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse


class NotAllowed(Exception):
    """The actor may not make this change (→ 403)."""


class Conflict(Exception):
    """The change collides with existing state, e.g. a duplicate namespace + name (→ 409)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class Gone(Exception):
    """What the request names existed and was deleted for good, e.g. a deleted version's data (→ 410)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class Unprocessable(Exception):
    """Well-formed, but nothing to act on, e.g. an erasure of a value found nowhere (→ 422)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


# The database could not be reached, refused a new connection ("too many clients"), or no pooled
# connection came free in time: the request may well succeed a moment later, so it is a 503 with
# Retry-After, never a 500. Raised as django.db.OperationalError / InterfaceError; answered by
# config.rest.exception_handler (API views) and config.middleware.DatabaseUnavailableMiddleware
# (everything else).
DATABASE_UNAVAILABLE = "The database is unavailable or saturated right now; try again shortly."


def is_database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_response(request):
    """503 with Retry-After: the API's JSON error shape under /api/, a short page elsewhere."""
    retry = str(settings.DATABASE_RETRY_AFTER_SECONDS)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": DATABASE_UNAVAILABLE, "errors": {}}, status=503)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Unavailable</title><h1>Unavailable</h1><p>{DATABASE_UNAVAILABLE}</p>",
            status=503,
        )
    response["Retry-After"] = retry
    return response
