"""Middleware of the whole site."""

from django.core.exceptions import TooManyFieldsSent
from django.http import JsonResponse

from config.errors import database_unavailable_response, is_database_unavailable


class ApiQueryLimitMiddleware:
    """Query strings under /api/ that no endpoint could use get the API's 400 error shape: one with
    more parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS (Django refuses to parse it while DRF is
    still choosing a renderer, so the refusal would escape as an HTML page), and one holding a NUL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                params = request.GET
            except TooManyFieldsSent as exc:
                return JsonResponse(
                    {
                        "detail": f"Too many query parameters: {exc} Send fewer per request.",
                        "errors": {"query": ["Too many parameters."]},
                    },
                    status=400,
                )
            # A NUL cannot be stored nor compared in PostgreSQL: refuse it here, named, for every
            # endpoint, rather than let one filter reach the database with it.
            for key, values in params.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    name = key.replace("\x00", "\\u0000")
                    return JsonResponse(
                        {
                            "detail": f"Query parameter {name!r} holds a NUL character (%00).",
                            "errors": {name: ["NUL characters are not allowed."]},
                        },
                        status=400,
                    )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """An unreachable or saturated database answers 503 with Retry-After instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return database_unavailable_response(request)
        return None
