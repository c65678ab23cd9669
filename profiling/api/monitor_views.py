"""Monitor and alert endpoints: ``/datasets/{id}/monitor`` (GET, PUT) and ``/alerts/`` (list, one,
acknowledge, resolve). Thin: profiling.monitors and profiling.alerts write, profiling.monitor_selectors
reads. Anyone signed in reads; the dataset's owner, a steward or staff change."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors as catalog_selectors
from config.ids import ID_PATTERN
from profiling import alerts, monitor_selectors, monitors
from profiling.api.monitor_serializers import (
    AlertCommentSerializer,
    AlertSerializer,
    MonitorSerializer,
    MonitorWriteSerializer,
)
from profiling.models import Alert

ERROR = OpenApiResponse(description='{"detail": "...", "errors": {field: [messages]}}')
MONITOR_FIELDS = ("schedule", "reference", "rules")


class MonitorView(APIView):
    """A dataset's monitor: its schedule, its reference and its rules."""

    def _dataset(self, pk):
        return get_object_or_404(catalog_selectors.dataset_list(user=self.request.user), pk=pk)

    @extend_schema(responses={200: MonitorSerializer, 404: ERROR}, summary="A dataset's monitor")
    def get(self, request, dataset_pk: int):
        return Response(monitor_selectors.monitor_answer(self._dataset(dataset_pk), user=request.user))

    @extend_schema(
        request=MonitorWriteSerializer,
        responses={200: MonitorSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Set a dataset's monitor",
        description=(
            "Replaces the whole monitor (owner, steward or staff): what is left out is cleared. The rules "
            "are judged on the latest profile at once, and again after every profile; a rule that fires "
            "opens an alert (GET /api/v1/alerts/). A bad cron, a threshold that is not a number, a column "
            "the dataset does not have: 400 naming the rule and field (`rules.2.column`)."
        ),
    )
    def put(self, request, dataset_pk: int):
        dataset = self._dataset(dataset_pk)
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"monitor": ['A JSON object: {"schedule"?, "reference"?, "rules"}.']})
        unknown = sorted(set(data) - set(MONITOR_FIELDS))
        if unknown:
            raise ValidationError({k: ["Not a field of a monitor."] for k in unknown})
        monitors.set_monitor(
            actor=request.user,
            dataset=dataset,
            schedule=data.get("schedule"),
            reference=data.get("reference"),
            rules=data.get("rules"),
        )
        return Response(monitor_selectors.monitor_answer(dataset, user=request.user))


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts raised by datasets' monitors, newest first; their owners, stewards or staff acknowledge
    and resolve them."""

    serializer_class = AlertSerializer
    lookup_value_regex = ID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Alert.objects.none()
        params = self.request.query_params
        return monitor_selectors.alert_list(
            user=self.request.user, dataset=params.get("dataset"), status=params.get("status")
        )

    def _answer(self, alert: Alert) -> dict:
        return monitor_selectors.alert_answer(alert, user=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", OpenApiTypes.STR, description="A dataset's id or URN"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["open", "acknowledged", "resolved"]),
        ],
        summary="Alerts, newest first",
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self._answer(a) for a in page])

    @extend_schema(responses={200: AlertSerializer, 404: ERROR}, summary="One alert with its history")
    def retrieve(self, request, *args, **kwargs):
        return Response(self._answer(self.get_object()))

    def _step(self, request, pk, service) -> Response:
        # Looked up among every alert the caller may see: an outsider is told 403 by the service.
        target = get_object_or_404(self.get_queryset(), pk=pk)
        s = AlertCommentSerializer(data=request.data if isinstance(request.data, dict) else {})
        s.is_valid(raise_exception=True)
        done = service(actor=request.user, alert=target, comment=s.validated_data.get("comment"))
        return Response(self._answer(done))

    @extend_schema(
        request=AlertCommentSerializer,
        responses={
            200: AlertSerializer,
            403: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="Not open"),
        },
        summary="Acknowledge an alert: someone is looking into it",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._step(request, pk, alerts.acknowledge_alert)

    @extend_schema(
        request=AlertCommentSerializer,
        responses={
            200: AlertSerializer,
            403: ERROR,
            404: ERROR,
            409: OpenApiResponse(description="Resolved already"),
        },
        summary="Resolve an alert by hand, saying why",
        description="If its rule still fires on the next profile, a new alert opens.",
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._step(request, pk, alerts.resolve_alert)
