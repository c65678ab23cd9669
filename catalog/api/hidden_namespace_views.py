"""Namespace rules for hidden datasets (docs/governance.md, "Hidden datasets"): staff only, since
the list itself names what the company must not see listed. catalog.hidden_namespaces writes."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from catalog import hidden_namespaces
from catalog.models import HiddenNamespace
from config.ids import ID_PATTERN


class HiddenNamespaceSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)

    class Meta:
        model = HiddenNamespace
        fields = ["id", "namespace", "note", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
        # Uniqueness is the service's to check (409), and it refuses padded names rather than trimming.
        validators: list = []
        extra_kwargs = {
            "namespace": {"validators": [], "trim_whitespace": False},
            "note": {"required": False},
        }


class IsStaff(permissions.BasePermission):
    message = "Only staff manage hidden namespaces."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


@extend_schema_view(
    list=extend_schema(description="The namespaces whose every dataset is hidden (staff only)."),
    create=extend_schema(
        description="Hide every dataset of a namespace, those registered later included (staff only). "
        "409 when the namespace is hidden already."
    ),
    destroy=extend_schema(
        description="Drop the rule (staff only); its datasets stay hidden until their owners or staff show them."
    ),
)
class HiddenNamespaceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Staff's rules hiding whole namespaces."""

    serializer_class = HiddenNamespaceSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaff]
    lookup_value_regex = ID_PATTERN
    queryset = HiddenNamespace.objects.select_related("created_by").order_by("namespace")

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = hidden_namespaces.add_hidden_namespace(actor=request.user, **body.validated_data)
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        hidden_namespaces.remove_hidden_namespace(actor=request.user, rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
