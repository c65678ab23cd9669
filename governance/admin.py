"""Admin: policies and requests are read here; changes go through the API, which audits them."""

from django.contrib import admin

from governance.models import (
    AccessRequest,
    AuditRecord,
    DatasetPolicy,
    Delivery,
    ModelVersion,
    RegisteredModel,
    Subscription,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["seq", "at", "actor", "via", "action", "object_type", "object_id"]
    list_filter = ["via", "action", "object_type"]
    search_fields = ["actor", "object_id"]


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "requester", "purpose", "status", "created_at", "expires_at"]
    list_filter = ["status", "purpose"]


@admin.register(DatasetPolicy)
class DatasetPolicyAdmin(ReadOnlyAdmin):
    list_display = [
        "dataset",
        "require_quality_pass",
        "max_parity_difference",
        "max_approval_days",
        "updated_at",
    ]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ReadOnlyAdmin):
    list_display = ["namespace", "name", "owner", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["model", "version", "cleared", "registered_by", "created_at"]
    list_filter = ["cleared"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    """Every subscription, the system one (GOVERNANCE_WEBHOOK_URL) included; the secret is not shown."""

    list_display = ["id", "owner", "group", "system", "active", "url", "email", "format", "created_at"]
    list_filter = ["system", "active", "format", "email"]
    exclude = ["secret"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "subscription",
        "event",
        "channel",
        "status",
        "attempts",
        "last_status_code",
        "due_at",
    ]
    list_filter = ["status", "channel"]
    list_select_related = ["event", "subscription"]
    raw_id_fields = ["subscription", "event", "redelivery_of"]
