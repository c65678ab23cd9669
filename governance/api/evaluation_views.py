"""Evaluations of a model version: posted by a pipeline (202, a worker computes), read by anyone
signed in (models are catalog metadata; group names only for those who may read the data's values).
Thin: governance.evaluations writes and shapes, governance.selectors reads."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import evaluations, selectors
from governance.api.evaluation_serializers import (
    EvaluationCreateSerializer,
    EvaluationQueuedSerializer,
    EvaluationSerializer,
)
from governance.models import ModelEvaluation, ModelVersion


def _model_version(user, pk) -> ModelVersion:
    try:
        return selectors.model_version_list(user=user).get(pk=pk)
    except ModelVersion.DoesNotExist as exc:
        raise Http404("No such model version.") from exc


class EvaluationListView(generics.GenericAPIView):
    """A model version's evaluations, newest first; POST asks for a new one."""

    serializer_class = EvaluationSerializer  # for the schema; answers are shaped by evaluations
    queryset = ModelEvaluation.objects.none()  # for the schema; rows come from selectors

    @extend_schema(responses={200: EvaluationSerializer(many=True)})
    def get(self, request, pk):
        mv = _model_version(request.user, pk)
        page = self.paginate_queryset(selectors.model_evaluations(mv))
        return self.get_paginated_response([evaluations.evaluation_as_seen_by(e, request.user) for e in page])

    @extend_schema(
        request=EvaluationCreateSerializer,
        responses={
            202: EvaluationQueuedSerializer,
            400: OpenApiResponse(description="Unknown dataset or version, or a column it does not have"),
            403: OpenApiResponse(description="Not the model's owner or staff, or may not read the data"),
            404: OpenApiResponse(description="No such model version"),
        },
        description="Evaluate the model version on a catalogued dataset version holding its predictions "
        "(label, prediction and optional score columns). A worker computes Fairlearn's figures overall "
        "and per group of the dataset's sensitive columns; poll the evaluation for its status.",
    )
    def post(self, request, pk):
        mv = _model_version(request.user, pk)
        s = EvaluationCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        ev = evaluations.request_evaluation(actor=request.user, model_version=mv, **s.validated_data)
        return Response({"id": ev.pk, "status": ev.status}, status=status.HTTP_202_ACCEPTED)


class EvaluationDetailView(APIView):
    """One evaluation: its status, and once succeeded its figures (Fairlearn's)."""

    @extend_schema(responses={200: EvaluationSerializer})
    def get(self, request, pk, eid):
        mv = _model_version(request.user, pk)
        ev = selectors.model_evaluations(mv).filter(pk=eid).first()
        if ev is None:
            raise Http404("No such evaluation of this model version.")
        return Response(evaluations.evaluation_as_seen_by(ev, request.user))
