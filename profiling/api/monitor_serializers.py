"""Shapes of the monitor and alert endpoints, for the OpenAPI schema. Input is checked by the
services (profiling.monitors, profiling.monitor_rules), which name the rule and field at fault."""

from rest_framework import serializers

from profiling.models import AlertStatus, Metric

OPS = [(">", ">"), ("<", "<")]


class MonitorRuleSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=Metric.choices)
    column = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="psi, ks_pvalue, null_fraction, "
        "pii, schema_change: one column (every column when left out); group_share: "
        "the sensitive column.",
    )
    group = serializers.CharField(
        required=False, allow_null=True, help_text="group_share: one group (any when left out)."
    )
    op = serializers.ChoiceField(
        choices=OPS, required=False, help_text="Fires when metric op threshold holds."
    )
    threshold = serializers.FloatField(
        required=False,
        help_text="Defaults: psi 0.2, ks_pvalue 0.05, pii 0, schema_change 0; the others need one.",
    )


class MonitorRuleAnswerSerializer(MonitorRuleSerializer):
    id = serializers.IntegerField()
    alert = serializers.IntegerField(allow_null=True, help_text="The rule's open or acknowledged alert.")
    state = serializers.ChoiceField(
        choices=[("firing", "firing"), ("passing", "passing"), ("unknown", "unknown")],
        allow_null=True,
        help_text="Its last judgement (unknown: the version could not say, e.g. no reference yet).",
    )
    value = serializers.FloatField(allow_null=True, help_text="The figure it was last judged on.")
    judged_version = serializers.IntegerField(allow_null=True)


class MonitorWriteSerializer(serializers.Serializer):
    schedule = serializers.CharField(
        required=False, allow_null=True, help_text="5-field cron; none: no runs."
    )
    reference = serializers.JSONField(required=False, help_text='"previous" (default) or a version number.')
    rules = MonitorRuleSerializer(many=True, required=False)


class MonitorSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    schedule = serializers.CharField(allow_null=True)
    reference = serializers.JSONField(help_text='"previous" or the pinned version number.')
    rules = MonitorRuleAnswerSerializer(many=True)
    freshness_due_at = serializers.DateTimeField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_run_note = serializers.CharField()
    last_evaluated_version = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)


class AlertStepSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    by = serializers.CharField(allow_null=True)
    comment = serializers.CharField(required=False)
    note = serializers.CharField(required=False)
    figures = serializers.DictField(required=False)


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField()
    dataset_urn = serializers.CharField()
    rule_id = serializers.IntegerField(allow_null=True, help_text="Null once the rule was removed.")
    rule = MonitorRuleSerializer()
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    message = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    reference = serializers.IntegerField(allow_null=True)
    figures = serializers.DictField(help_text="What raised it: value, op, threshold, version, reference, ...")
    resolved_figures = serializers.DictField(
        allow_null=True, help_text="What cleared it (resolved by itself)."
    )
    opened_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True)
    resolution = serializers.ChoiceField(
        choices=[("by_hand", "by_hand"), ("passed", "passed"), ("rule_removed", "rule_removed")],
        allow_null=True,
    )
    history = AlertStepSerializer(many=True)


class AlertCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
