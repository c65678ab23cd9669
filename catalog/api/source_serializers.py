"""The sources API's shapes (API.md, "Sources"). A source's ``secret`` is the NAME of where its
credentials are (an environment variable or a secrets file), shown only to who may manage it; the
credentials themselves are never sent, stored or answered."""

from rest_framework import serializers

from catalog.models import Sensitivity, Source, SourceKind, SourceLayout, SourceScan
from catalog.permissions import can_manage_source
from catalog.source_selectors import without_hidden_errors


class SourceSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True)
    stewards = serializers.SerializerMethodField()
    datasets = serializers.SerializerMethodField()
    last_scan = serializers.SerializerMethodField()

    class Meta:
        model = Source
        fields = [
            "id", "name", "kind", "uri", "secret", "endpoint_url", "include", "exclude", "layout",
            "schedule", "profile", "sample_above_rows", "owner", "stewards", "sensitivity",
            "created_at", "updated_at", "last_scan_at", "datasets", "last_scan",
        ]  # fmt: skip
        read_only_fields = fields

    def get_stewards(self, obj: Source) -> list[str]:
        return sorted(u.username for u in obj.stewards.all())

    def get_datasets(self, obj: Source) -> int:
        return getattr(obj, "dataset_count", None) or obj.datasets.count()

    def get_last_scan(self, obj: Source) -> dict | None:
        scan = obj.scans.order_by("-id").first()
        if scan is None:
            return None
        request = self.context.get("request")
        # Errors naming a dataset hidden from the caller are left out (docs/governance.md).
        scan = without_hidden_errors(scan, user=getattr(request, "user", None), source_id=obj.pk)
        return ScanSerializer(scan).data

    def to_representation(self, instance: Source) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not can_manage_source(request.user, instance):
            data["secret"] = ""  # where the credentials are is the managers' business
        return data


class SourceWriteSerializer(serializers.Serializer):
    """POST (all of it) and PATCH (any of the changeable fields)."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    uri = serializers.CharField(max_length=2000)
    secret = serializers.CharField(max_length=200, required=False, allow_blank=True)
    endpoint_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    include = serializers.ListField(child=serializers.CharField(max_length=500), required=False)
    exclude = serializers.ListField(child=serializers.CharField(max_length=500), required=False)
    layout = serializers.ChoiceField(choices=SourceLayout.choices, required=False)
    schedule = serializers.CharField(max_length=100, required=False, allow_blank=True)
    profile = serializers.BooleanField(required=False)
    sample_above_rows = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    owner = serializers.CharField(max_length=150, required=False, allow_null=True)
    stewards = serializers.ListField(child=serializers.CharField(max_length=150), required=False)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)


class ScanSerializer(serializers.ModelSerializer):
    source = serializers.IntegerField(source="source_id", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, allow_null=True)

    class Meta:
        model = SourceScan
        fields = [
            "id", "source", "status", "trigger", "requested_by", "progress", "found", "registered",
            "changed", "unchanged", "removed", "errors", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ScanStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class SourceTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    would_register = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(required=False)
    problems = serializers.ListField(child=serializers.DictField(), required=False)
