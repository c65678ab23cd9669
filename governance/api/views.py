"""Governance endpoints: access requests, clearance, policies, audit, models and their cards.

Thin: services write (access_requests, dataset_policies, registry), selectors read, serializers shape.
Two reads take one explicit step first, named where they do: listing or reading access requests
expires the approvals past their expiry, and clearance folds the lineage events posted before it.
"""

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors as catalog_selectors
from catalog.models import Dataset
from config.errors import NotAllowed
from config.ids import ID_PATTERN, parse_id
from governance import (
    access_requests,
    cards,
    clearance,
    clearance_cache,
    dataset_policies,
    registry,
    release,
    selectors,
)
from governance.api.renderers import HTMLCardRenderer, MarkdownCardRenderer, MCTCardRenderer
from governance.api.serializers import (
    AccessRequestCreateSerializer,
    AccessRequestDetailSerializer,
    AccessRequestSerializer,
    AuditRecordSerializer,
    ClearanceSerializer,
    DecisionSerializer,
    ModelPolicySerializer,
    ModelVersionCreateSerializer,
    ModelVersionSerializer,
    ModelVersionUpdateSerializer,
    PolicySerializer,
)
from governance.models import (
    AccessRequest,
    AuditRecord,
    DatasetPolicy,
    ModelPolicy,
    ModelVersion,
    RequestStatus,
)
from lineage.fold import catch_up

User = get_user_model()


class AccessRequestFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    dataset = django_filters.CharFilter(method="filter_dataset", label="Dataset URN or id")

    class Meta:
        model = AccessRequest
        fields = ["status", "dataset"]

    def filter_dataset(self, queryset, name, value):
        pk = parse_id(value)
        if pk is not None:
            return queryset.filter(datasets__pk=pk)
        found, malformed = selectors.datasets_for_urns([value])
        if malformed:
            raise ValidationError({"dataset": [f"Not a dataset URN or id: {value}."]})
        return queryset.filter(datasets=found[value]) if value in found else queryset.none()


class AccessRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Requests to use datasets for a purpose; owners and stewards approve, reject or revoke them."""

    filterset_class = AccessRequestFilterSet
    lookup_value_regex = ID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return AccessRequest.objects.none()
        if self.action == "retrieve":
            return selectors.access_request_list(user=self.request.user).prefetch_related(
                "approvals__approver", "events__actor"
            )
        return selectors.access_request_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return AccessRequestCreateSerializer
        if self.action == "retrieve":
            return AccessRequestDetailSerializer
        return AccessRequestSerializer

    def list(self, request, *args, **kwargs):
        """The requests the caller made or may decide, as of now: approvals past their expiry are
        expired first (audited and notified as the periodic sweep does), so ``?status=expired`` finds
        them at once."""
        access_requests.expire_due_access_requests()
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        """One request with its approvals and history, as of now (expired first when overdue)."""
        access_requests.expire_due_access_requests()
        return super().retrieve(request, *args, **kwargs)

    def _detail(self, pk) -> Response:
        obj = AccessRequest.objects.prefetch_related("approvals__approver", "events__actor").get(pk=pk)
        return Response(AccessRequestDetailSerializer(obj).data)

    @extend_schema(request=AccessRequestCreateSerializer, responses={201: AccessRequestDetailSerializer})
    def create(self, request, *args, **kwargs):
        s = AccessRequestCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        obj = access_requests.create_access_request(
            actor=request.user,
            datasets=data["datasets"],
            purpose=data["purpose"],
            justification=data["justification"],
            model_name=data.get("model") or "",
            expires_at=data.get("expires_at"),
        )
        response = self._detail(obj.pk)
        response.status_code = status.HTTP_201_CREATED
        return response

    def _decide(self, request, pk, service) -> Response:
        # Looked up among all requests, not the caller's list: an outsider gets 403, not 404.
        target = get_object_or_404(AccessRequest, pk=pk)
        s = DecisionSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        service(actor=request.user, request=target, comment=s.validated_data["comment"])
        return self._detail(target.pk)

    @extend_schema(
        request=DecisionSerializer,
        responses={
            200: AccessRequestDetailSerializer,
            403: OpenApiResponse(description="Not a decider"),
            409: OpenApiResponse(description="Not pending, or already approved by you"),
        },
        description="Approve as an owner or steward of every dataset concerned. A restricted dataset needs "
        "two approvals (the owner and a steward); the request stays pending until every requirement is met.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, pk, access_requests.approve_access_request)

    @extend_schema(
        request=DecisionSerializer,
        responses={
            200: AccessRequestDetailSerializer,
            403: OpenApiResponse(description="Not a decider"),
            409: OpenApiResponse(description="Not pending"),
        },
        description="Reject a pending request as an owner or steward of every dataset concerned.",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, pk, access_requests.reject_access_request)

    @extend_schema(
        request=DecisionSerializer,
        responses={
            200: AccessRequestDetailSerializer,
            403: OpenApiResponse(description="Not allowed"),
            409: OpenApiResponse(description="Not approved"),
        },
        description="Revoke an approved request (the requester, staff, or an owner or steward of a dataset).",
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self._decide(request, pk, access_requests.revoke_access_request)

    @extend_schema(
        request=DecisionSerializer,
        responses={
            200: AccessRequestDetailSerializer,
            403: OpenApiResponse(description="Not the requester"),
            409: OpenApiResponse(description="Not pending"),
        },
        description="The requester withdraws their own pending request (pending → withdrawn).",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._decide(request, pk, access_requests.withdraw_access_request)


class ClearanceView(APIView):
    """May the principal use these datasets for this purpose? Each dataset with its reasons.

    Consistency: the answer holds every lineage event posted before the question. Pending events
    (deferred ingestion) are folded first, for up to CLEARANCE_LINEAGE_WAIT_SECONDS; while some
    posted before the question are still pending, nothing is cleared and the reasons say so.
    Everything else is read as committed; a cached answer is served only while nothing it rests on
    has changed (clearance_cache)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "datasets",
                str,
                many=True,
                explode=True,
                description="Required except with purpose=deployment. Dataset URNs (at most 200): repeat the parameter, one URN each (a name may hold "
                "commas), or give one comma-separated list (split only at commas followed by 'dataset:')",
            ),
            OpenApiParameter(
                "models",
                str,
                many=True,
                explode=True,
                description="purpose=deployment only, instead of datasets: model URNs "
                "(model:<namespace>:<name>, optionally @<version>; without it the latest version). Each "
                "version's training data must still be cleared and its model's release policy hold.",
            ),
            OpenApiParameter(
                "purpose", str, required=True, enum=["training", "evaluation", "analysis", "deployment"]
            ),
            OpenApiParameter(
                "principal",
                str,
                description="Username to answer for (default: the caller). Asking for someone else needs "
                "staff or the governance.check_clearance_for_others permission (pipeline service accounts).",
            ),
        ],
        responses={200: ClearanceSerializer},
    )
    def get(self, request):
        purpose = request.query_params.get("purpose")
        if purpose == release.DEPLOYMENT or "models" in request.query_params:
            return self._deployment(request, purpose)
        urns = clearance.parse_dataset_list(request.query_params.getlist("datasets") or None)
        if not purpose:
            raise ValidationError({"purpose": ["Required: training, evaluation, analysis or deployment."]})
        principal = principal_for(request, request.query_params.get("principal"))
        behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
        if not (clearance_cache.enabled() and request.accepted_renderer.format == "json"):
            return Response(
                clearance.evaluate(principal=principal, urns=urns, purpose=purpose, lineage_behind=behind)
            )
        # Pipelines ask the same question again and again: a still-valid answer is served as stored.
        body = clearance.answer_json(
            principal=principal,
            urns=urns,
            purpose=purpose,
            render=JSONRenderer().render,
            lineage_behind=behind,
        )
        return HttpResponse(body, content_type="application/json")

    def _deployment(self, request, purpose: str | None) -> Response:
        """May these model versions be deployed (release.py)? Asked of models, never of datasets."""
        if purpose != release.DEPLOYMENT:
            raise ValidationError({"purpose": ["models= is asked with purpose=deployment."]})
        if "datasets" in request.query_params:
            raise ValidationError(
                {
                    "datasets": [
                        "purpose=deployment asks about models (models=); their training data is checked."
                    ]
                }
            )
        urns = release.parse_model_list(request.query_params.getlist("models") or None)
        principal = principal_for(request, request.query_params.get("principal"))
        behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
        return Response(release.evaluate_deployment(principal=principal, urns=urns, lineage_behind=behind))


def principal_for(request, name: str | None):
    """The caller, or the named user when the caller may act for others (staff, pipeline accounts)."""
    if not name or name == request.user.get_username():
        return request.user
    if not (request.user.is_staff or request.user.has_perm("governance.check_clearance_for_others")):
        raise NotAllowed(
            "Only staff or a pipeline account allowed to act for others may name another principal."
        )
    principal = User.objects.filter(username=name, is_active=True).first()
    if principal is None:
        raise ValidationError({"principal": [f"Unknown user: {name}."]})
    return principal


class DatasetPolicyView(APIView):
    """A dataset's governance policy: read by anyone signed in, set by its owner, a steward or staff."""

    def _dataset(self, pk) -> Dataset:
        return get_object_or_404(catalog_selectors.dataset_list(user=self.request.user), pk=pk)

    @extend_schema(responses={200: PolicySerializer})
    def get(self, request, dataset_pk):
        ds = self._dataset(dataset_pk)
        policy = selectors.policy_of(ds) or DatasetPolicy(dataset=ds)
        return Response(PolicySerializer(policy).data)

    @extend_schema(request=PolicySerializer, responses={200: PolicySerializer})
    def put(self, request, dataset_pk):
        return self._set(request, dataset_pk)

    @extend_schema(request=PolicySerializer, responses={200: PolicySerializer})
    def patch(self, request, dataset_pk):
        return self._set(request, dataset_pk)

    def _set(self, request, dataset_pk):
        ds = self._dataset(dataset_pk)
        s = PolicySerializer(data=request.data, partial=request.method == "PATCH")
        s.is_valid(raise_exception=True)
        policy = dataset_policies.set_dataset_policy(actor=request.user, dataset=ds, **s.validated_data)
        return Response(PolicySerializer(policy).data)


class AuditViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit chain, newest first. Nothing edits or deletes a record (any other method: 405)."""

    serializer_class = AuditRecordSerializer
    lookup_value_regex = ID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no request, no database
            return AuditRecord.objects.none()
        return selectors.audit_list(
            object_ref=self.request.query_params.get("object"), user=self.request.user
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "object", str, description="A dataset URN or id, or <type>:<id> (access_request:3, model:5)"
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class ModelVersionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Trained model versions, what they were trained on and whether that was cleared; their cards."""

    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        qs = selectors.model_version_list(user=self.request.user)
        for field in ("namespace", "name"):
            if value := self.request.query_params.get(field):
                qs = qs.filter(**{f"model__{field}": value})
        return qs

    def get_serializer_class(self):
        if self.action == "create":
            return ModelVersionCreateSerializer
        if self.action == "partial_update":
            return ModelVersionUpdateSerializer
        return ModelVersionSerializer

    @extend_schema(request=ModelVersionCreateSerializer, responses={201: ModelVersionSerializer})
    def create(self, request, *args, **kwargs):
        s = ModelVersionCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        principal = principal_for(request, data.pop("principal", None))
        mv = registry.register_model_version(
            actor=request.user, principal=None if principal == request.user else principal, **data
        )
        return Response(
            ModelVersionSerializer(self.get_queryset().get(pk=mv.pk), context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=ModelVersionUpdateSerializer, responses={200: ModelVersionSerializer})
    def partial_update(self, request, *args, **kwargs):
        mv = self.get_object()
        s = ModelVersionUpdateSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        registry.update_model_version(actor=request.user, model_version=mv, **s.validated_data)
        return Response(
            ModelVersionSerializer(self.get_queryset().get(pk=mv.pk), context={"request": request}).data
        )

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("format", str, enum=["json", "md", "html", "mct"], description="Rendering")
        ],
        description="The model card (Mitchell et al. sections) as JSON, Markdown (format=md, or card.md), "
        "HTML (format=html, or card.html), or in the field structure of Google's Model Card Toolkit schema "
        "v0.0.2 (format=mct): model_details, model_parameters.data, quantitative_analysis.performance_metrics "
        "(type, value, slice) and considerations.",
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, MarkdownCardRenderer, HTMLCardRenderer, MCTCardRenderer],
    )
    def card(self, request, pk=None, format=None):
        mv = get_object_or_404(ModelVersion.objects.select_related("model__owner", "registered_by"), pk=pk)
        return Response(cards.build_card(mv, viewer=request.user))


class ModelPolicyView(APIView):
    """The release policy of a model version's model (it binds all its versions): read by anyone
    signed in, set by the model's owner or staff. Unset fields keep their value (PUT and PATCH alike)."""

    def _version(self, pk) -> ModelVersion:
        return get_object_or_404(selectors.model_version_list(user=self.request.user), pk=pk)

    @extend_schema(responses={200: ModelPolicySerializer})
    def get(self, request, pk):
        mv = self._version(pk)
        policy = selectors.model_policy_of(mv) or ModelPolicy(model=mv.model)
        return Response(ModelPolicySerializer(policy).data)

    @extend_schema(request=ModelPolicySerializer, responses={200: ModelPolicySerializer})
    def put(self, request, pk):
        return self._set(request, pk)

    @extend_schema(request=ModelPolicySerializer, responses={200: ModelPolicySerializer})
    def patch(self, request, pk):
        return self._set(request, pk)

    def _set(self, request, pk):
        mv = self._version(pk)
        s = ModelPolicySerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        # A misspelt condition must not pass for a policy set; what GET gave back may be sent again.
        unknown = sorted(set(request.data) - set(s.fields)) if isinstance(request.data, dict) else []
        if unknown:
            raise ValidationError({key: ["This field cannot be set."] for key in unknown})
        policy = release.set_model_policy(actor=request.user, model_version=mv, **s.validated_data)
        return Response(ModelPolicySerializer(policy).data)


class ReleaseCheckView(APIView):
    """May this model version be deployed? The answer of GET /clearance?models=<its URN>&purpose=deployment."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "principal", str, description="Username to answer for (default: the caller); as /clearance."
            )
        ],
        responses={200: ClearanceSerializer},
    )
    def get(self, request, pk):
        mv = get_object_or_404(selectors.model_version_list(user=request.user), pk=pk)
        principal = principal_for(request, request.query_params.get("principal"))
        behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
        return Response(
            release.deployment_answer(
                principal=principal, versions={release.model_urn(mv): mv}, lineage_behind=behind
            )
        )
