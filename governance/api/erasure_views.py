"""Erasures of a data subject's value (docs/privacy.md): staff or a privacy officer
(governance.add_erasure) post a value and get the report; they list past erasures. Thin:
governance.erasures writes."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from config.errors import NotAllowed
from config.parsers import StrictJSONParser
from config.rest import Pagination
from governance import erasures
from governance.models import Erasure

ERROR = OpenApiResponse(description='{"detail": "...", "errors": {field: [messages]}}')


class ErasureRequestSerializer(serializers.Serializer):
    value = serializers.CharField(
        max_length=erasures.MAX_VALUE_LENGTH, trim_whitespace=False, help_text="An e-mail, an id..."
    )
    column = serializers.CharField(required=False, allow_blank=True, max_length=1024, default="")
    delete_versions = serializers.BooleanField(required=False, default=False)


class ErasureSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None, read_only=True)

    class Meta:
        model = Erasure
        fields = ["id", "value_digest", "column", "delete_versions", "report", "requested_by", "created_at"]
        read_only_fields = fields


class ErasureListView(generics.ListCreateAPIView):
    """POST: erase a value; GET: the erasures made (never the values: their HMAC digests)."""

    parser_classes = [StrictJSONParser]
    serializer_class = ErasureSerializer
    pagination_class = Pagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Erasure.objects.none()
        if not erasures.can_erase(self.request.user):
            raise NotAllowed("Only staff or a privacy officer (governance.add_erasure) may see erasures.")
        return Erasure.objects.select_related("requested_by")

    @extend_schema(
        request=ErasureRequestSerializer,
        responses={
            201: ErasureSerializer,
            400: ERROR,
            403: ERROR,
            422: OpenApiResponse(description="The value was found nowhere: nothing recorded"),
        },
        summary="Erase a data subject's value",
        description=(
            "Finds the versions whose personal-data columns (PII found by profiling or marked by a "
            "steward, and sensitive columns; or the `column` given) hold the value, and the stored "
            "profiles that quote it; purges it from everything Gouvernail stored (profiles, quality "
            "results, alerts, suites, lineage events and facets, events and deliveries); with "
            "`delete_versions`, deletes the stored copies that hold it (tombstones). Data at a source "
            "is only reported. The report and the audit record never repeat the value."
        ),
    )
    def post(self, request):
        if not erasures.can_erase(request.user):  # before reading the body: nothing to validate for them
            raise NotAllowed("Only staff or a privacy officer (governance.add_erasure) may erase a value.")
        body = ErasureRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        erasure = erasures.erase_value(actor=request.user, via="api", **body.validated_data)
        return Response(ErasureSerializer(erasure).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ErasureSerializer(many=True), 403: ERROR}, summary="Erasures made")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
