"""REST framework plumbing shared by every app: authentication, pagination and the error shape.

API.md fixes errors as ``{"detail": "...", "errors": {field: [messages]}}`` with a 4xx status.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import Resolver404, resolve
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import (
    Conflict,
    Gone,
    NotAllowed,
    Unprocessable,
    database_unavailable_response,
    is_database_unavailable,
)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                msgs: list[str] = []
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        for sub, sub_msgs in _flatten(item).items():
                            out[f"{key}[{i}].{sub}"] = sub_msgs
                    else:
                        msgs.append(str(item))
                if msgs:
                    out[str(key)] = msgs
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(d) for d in detail]}
    return {}


def _summary(errors: dict[str, list[str]], fallback: str) -> str:
    if not errors:
        return fallback
    parts = []
    for field, msgs in errors.items():
        label = "" if field in ("non_field_errors", "__all__") else f"{field}: "
        parts.append(label + " ".join(msgs))
    return "; ".join(parts)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Turn every refusal into the API.md error shape; domain errors from services map to 4xx."""
    if is_database_unavailable(exc):
        return database_unavailable_response(context["request"])
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    elif isinstance(exc, (DjangoPermissionDenied, NotAllowed)):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)

    if isinstance(exc, Conflict):
        errors = exc.errors or {}
        return Response({"detail": str(exc), "errors": errors}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Gone):
        return Response({"detail": str(exc), "errors": exc.errors}, status=status.HTTP_410_GONE)
    if isinstance(exc, Unprocessable):
        return Response(
            {"detail": str(exc), "errors": exc.errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(data)
        response.data = {"detail": _summary(errors, "Invalid input."), "errors": errors}
    else:
        detail = data.get("detail") if isinstance(data, dict) else None
        response.data = {"detail": str(detail or exc), "errors": {}}
    return response


class ApiNotFound(APIView):
    """Every /api/v1/ path that no endpoint serves: 401 without credentials, else a JSON 404."""

    schema = None  # not an endpoint of the API

    def _not_found(self, request, *args, **kwargs):
        hint = ""
        if not request.path.endswith("/"):
            try:
                match = resolve(request.path + "/")
            except Resolver404:
                match = None
            if match is not None and match.url_name != "api-not-found":
                hint = f" Did you mean {request.path}/ (with a trailing slash)?"
        raise exceptions.NotFound(f"No endpoint at {request.path}.{hint}")

    get = post = put = patch = delete = head = options = _not_found
