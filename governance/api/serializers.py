"""Governance API shapes. Serializers validate the shape of input; services decide and write."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.markdown import render_markdown
from governance.cards import hidden_urns, scrub_hidden
from governance.models import (
    AccessRequest,
    AccessRequestEvent,
    Approval,
    AuditRecord,
    DatasetPolicy,
    ModelPolicy,
    ModelVersion,
    Purpose,
)


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = ["approver", "decision", "roles", "comment", "at"]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequestEvent
        fields = ["at", "actor", "action", "from_status", "to_status", "comment", "via"]

    def get_actor(self, obj) -> str | None:
        return obj.actor.username if obj.actor_id else None


class AccessRequestSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username")
    datasets = serializers.ListField(source="dataset_urns", child=serializers.CharField())
    model = serializers.CharField(source="model_name")
    justification_html = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "status",
            "requester",
            "datasets",
            "purpose",
            "model",
            "justification",
            "justification_html",
            "expires_at",
            "created_at",
            "updated_at",
            "decided_at",
            "decided_by",
        ]

    def get_justification_html(self, obj) -> str:
        return render_markdown(obj.justification)

    def get_decided_by(self, obj) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None


class AccessRequestDetailSerializer(AccessRequestSerializer):
    approvals = ApprovalSerializer(many=True, read_only=True)
    history = EventSerializer(source="events", many=True, read_only=True)

    class Meta(AccessRequestSerializer.Meta):
        fields = [*AccessRequestSerializer.Meta.fields, "approvals", "history"]


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time that must say its time zone: DRF would read a naive one in the server's zone, and
    an expiry that depends on where the server runs is not what the requester meant."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError(
                "Give a time zone, e.g. 2030-01-01T00:00:00Z or 2030-01-01T00:00:00+01:00."
            )
        return super().enforce_timezone(value)


class AccessRequestCreateSerializer(serializers.Serializer):
    datasets = serializers.ListField(
        child=serializers.CharField(max_length=1000), allow_empty=False, max_length=1000
    )
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    model = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    justification = serializers.CharField(max_length=10_000)
    expires_at = AwareDateTimeField(required=False, allow_null=True, default=None)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class ClearanceDatasetSerializer(serializers.Serializer):
    urn = serializers.CharField()
    allowed = serializers.BooleanField()
    sensitivity = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    access_request = serializers.IntegerField(allow_null=True)
    upstream_blockers = serializers.ListField(child=serializers.CharField())
    model = serializers.CharField(
        required=False, help_text="purpose=deployment: the model version this training dataset belongs to."
    )


class ModelPolicyValuesSerializer(serializers.Serializer):
    max_equalized_odds_difference = serializers.FloatField(allow_null=True)
    min_accuracy = serializers.FloatField(allow_null=True)
    require_independent_evaluation = serializers.BooleanField()


class ClearanceModelSerializer(serializers.Serializer):
    urn = serializers.CharField()
    id = serializers.IntegerField(help_text="The model version's id (/api/v1/models/{id}/).")
    version = serializers.CharField()
    allowed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    trained_for = serializers.CharField(
        allow_null=True, help_text="Whose clearance for the training data is checked."
    )
    policy = ModelPolicyValuesSerializer(allow_null=True)
    evaluations = serializers.ListField(
        child=serializers.IntegerField(), help_text="The evaluations the policy was checked on."
    )


class ClearanceSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    principal = serializers.CharField(allow_null=True)
    purpose = serializers.CharField()
    datasets = ClearanceDatasetSerializer(many=True)
    models = ClearanceModelSerializer(many=True, required=False, help_text="purpose=deployment only.")


class ModelPolicySerializer(serializers.ModelSerializer):
    """A model's release policy. Input is checked here for its shape and again by the service."""

    model = serializers.SerializerMethodField()
    max_equalized_odds_difference = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1
    )
    min_accuracy = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    require_independent_evaluation = serializers.BooleanField(required=False)
    updated_by = serializers.SerializerMethodField()
    # Null while nobody has set the model's policy: there is no policy row, so no time to give.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ModelPolicy
        fields = [
            "model",
            "max_equalized_odds_difference",
            "min_accuracy",
            "require_independent_evaluation",
            "updated_by",
            "updated_at",
        ]

    def get_model(self, obj) -> str:
        return str(obj.model)

    def get_updated_by(self, obj) -> str | None:
        return obj.updated_by.username if obj.updated_by_id else None


class PolicySerializer(serializers.ModelSerializer):
    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    urn = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()
    max_parity_difference = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    max_approval_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)
    require_quality_pass = serializers.BooleanField(required=False)
    # Null while nobody has set the dataset's policy: there is no policy row, so no time to give.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = DatasetPolicy
        fields = [
            "dataset",
            "urn",
            "require_quality_pass",
            "max_parity_difference",
            "max_approval_days",
            "updated_by",
            "updated_at",
        ]

    def get_urn(self, obj) -> str:
        return obj.dataset.urn

    def get_updated_by(self, obj) -> str | None:
        return obj.updated_by.username if obj.updated_by_id else None


class AuditRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "seq",
            "at",
            "actor",
            "via",
            "action",
            "object_type",
            "object_id",
            "object_urns",
            "before",
            "after",
            "prev_hash",
            "hash",
        ]


class ModelVersionSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="model.namespace")
    name = serializers.CharField(source="model.name")
    owner = serializers.SerializerMethodField()
    # Teams: a member of the owner group acts as the model's owner, of a steward group as its steward.
    owner_group = serializers.SerializerMethodField()
    steward_groups = serializers.SerializerMethodField()
    registered_by = serializers.SerializerMethodField()
    trained_on = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "namespace",
            "name",
            "version",
            "owner",
            "owner_group",
            "steward_groups",
            "registered_by",
            "via",
            "run_id",
            "lineage_node",
            "trained_on",
            "cleared",
            "clearance",
            "intended_use",
            "caveats",
            "created_at",
            "updated_at",
        ]

    def get_owner(self, obj) -> str | None:
        return obj.model.owner.username if obj.model.owner_id else None

    def get_owner_group(self, obj) -> str | None:
        return obj.model.owner_group.name if obj.model.owner_group_id else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_steward_groups(self, obj) -> list[str]:
        return sorted(g.name for g in obj.model.steward_groups.all())

    def get_registered_by(self, obj) -> str | None:
        return obj.registered_by.username if obj.registered_by_id else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_trained_on(self, obj) -> list[str]:
        return [str(i) for i in obj.inputs.all()]

    def to_representation(self, instance):
        # A hidden dataset the reader may not see is not named, in trained_on nor in the clearance
        # kept with the version (catalog.visibility; the model card does the same).
        if "_hidden_urns" not in self.context:
            request = self.context.get("request")
            self.context["_hidden_urns"] = hidden_urns(getattr(request, "user", None))
        return scrub_hidden(super().to_representation(instance), self.context["_hidden_urns"])


class ModelVersionCreateSerializer(serializers.Serializer):
    namespace = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255)
    version = serializers.CharField(max_length=100)
    trained_on = serializers.ListField(
        child=serializers.CharField(max_length=1000), allow_empty=False, max_length=1000
    )
    run_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    principal = serializers.CharField(
        max_length=150,
        required=False,
        help_text="Who trained it, when a pipeline account registers for a person (same rule as clearance); "
        "the clearance recorded is theirs and they own the model.",
    )


class ModelVersionUpdateSerializer(serializers.Serializer):
    intended_use = serializers.CharField(required=False, allow_blank=True, max_length=50_000)
    caveats = serializers.CharField(required=False, allow_blank=True, max_length=50_000)
    owner_group = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=150, help_text="A group name, or null"
    )
    steward_groups = serializers.ListField(child=serializers.CharField(max_length=150), required=False)
