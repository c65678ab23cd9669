"""MLflow interop endpoints: staff ask for a sync of MLflow's model registry and follow its job.

Thin: governance.mlflow_jobs queues and runs the job; these views check who asks and shape answers.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotAllowed
from governance import mlflow_jobs
from governance.models import MlflowSync


class MlflowSyncSerializer(serializers.ModelSerializer):
    """A sync job: where it stands and what it did."""

    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    errors = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = MlflowSync
        fields = [
            "id",
            "status",
            "trigger",
            "tracking_uri",
            "requested_by",
            "seen",
            "created",
            "updated",
            "unchanged",
            "unknown_inputs",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise NotAllowed("Only staff may sync MLflow or read its sync jobs.")


class MlflowSyncView(APIView):
    """Sync MLflow's registered model versions now (staff)."""

    @extend_schema(
        request=None,
        responses={
            202: MlflowSyncSerializer,
            403: OpenApiResponse(description="Not staff."),
            409: OpenApiResponse(description="MLflow sync is unavailable: MLFLOW_TRACKING_URI is not set."),
        },
        description="Queue a sync of MLflow's model registry (or answer the one waiting or running). "
        "Registered model versions become models here; each is tagged in MLflow with "
        "gouvernail.clearance and gouvernail.card.",
    )
    def post(self, request):
        _staff_only(request)
        job = mlflow_jobs.request_sync(actor=request.user)
        return Response(MlflowSyncSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class MlflowSyncDetailView(APIView):
    """One sync job (staff): status and counts (seen, created, updated, unchanged, unknown inputs) and
    errors."""

    @extend_schema(responses={200: MlflowSyncSerializer, 403: OpenApiResponse(description="Not staff.")})
    def get(self, request, pk: int):
        _staff_only(request)
        return Response(MlflowSyncSerializer(get_object_or_404(MlflowSync, pk=pk)).data)
