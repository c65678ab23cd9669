"""API shapes of event subscriptions and their delivery log (API.md, "Monitoring and events").
Serializers check the shape; governance/subscriptions.py decides and writes."""

from rest_framework import serializers

from governance.models import Delivery, DeliveryStatus, Subscription


class SubscriptionSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    group = serializers.SerializerMethodField()
    namespace = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Subscription
        fields = [
            "id",
            "events",
            "dataset",
            "namespace",
            "group",
            "owner",
            "url",
            "email",
            "format",
            "active",
            "created_at",
            "updated_at",
        ]

    def get_owner(self, obj) -> str | None:
        return obj.owner.get_username() if obj.owner_id else None

    def get_dataset(self, obj) -> str | None:
        return obj.dataset.urn if obj.dataset_id else None

    def get_group(self, obj) -> str | None:
        return obj.group.name if obj.group_id else None

    def get_namespace(self, obj) -> str | None:
        return obj.namespace or None

    def get_url(self, obj) -> str | None:
        return obj.url or None


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        help_text="Signs every webhook delivery (X-Gouvernail-Signature); shown in this answer only."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SubscriptionWriteSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        min_length=1,
        max_length=50,
        help_text='Event names, or patterns with * ("access_request.*", "*").',
    )
    dataset = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=600, help_text="A dataset URN"
    )
    namespace = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    group = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=150,
        help_text="A group you belong to: the subscription is the group's (any member manages it).",
    )
    url = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=2000, help_text="Webhook URL"
    )
    email = serializers.BooleanField(required=False, default=False)
    format = serializers.ChoiceField(choices=["json", "slack"], required=False)


class SubscriptionUpdateSerializer(SubscriptionWriteSerializer):
    events = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=50, required=False
    )
    email = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False, help_text="false pauses it")


class EventRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    name = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class DeliverySerializer(serializers.ModelSerializer):
    event = EventRefSerializer()
    next_attempt_at = serializers.SerializerMethodField()
    redelivery_of = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "channel",
            "status",
            "attempts",
            "last_status_code",
            "error",
            "response",
            "created_at",
            "last_attempt_at",
            "delivered_at",
            "next_attempt_at",
            "redelivery_of",
        ]

    def get_next_attempt_at(self, obj) -> str | None:
        due = obj.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
        return obj.due_at.isoformat() if due else None


class DeliveryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliverySerializer(many=True)


class RedeliveredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
