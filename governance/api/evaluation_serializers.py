"""Shapes of model evaluations in the API (governance.evaluations builds the answer's data)."""

from rest_framework import serializers


class EvaluationCreateSerializer(serializers.Serializer):
    dataset = serializers.CharField(
        max_length=1000, help_text="The evaluation dataset version: <dataset URN>@<version number>."
    )
    label_column = serializers.CharField(max_length=255)
    prediction_column = serializers.CharField(max_length=255)
    score_column = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", help_text="Scores: ROC AUC is computed."
    )
    positive_label = serializers.JSONField(
        required=False,
        default=None,
        help_text="The label value that is positive (default: the dataset's positive label, else 1 for 0/1).",
    )


class EvaluationQueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class EvaluationSerializer(serializers.Serializer):
    """One evaluation: its status and, once succeeded, Fairlearn's figures."""

    id = serializers.IntegerField()
    model = serializers.IntegerField(help_text="The model version's id.")
    dataset = serializers.CharField(help_text="<dataset URN>@<version number>")
    label_column = serializers.CharField()
    prediction_column = serializers.CharField()
    score_column = serializers.CharField(allow_null=True)
    positive_label = serializers.JSONField(allow_null=True)
    sensitive_columns = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    error = serializers.CharField(allow_null=True)
    overall = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="count, accuracy, precision, recall, false_positive_rate, false_negative_rate, "
        "selection_rate, and roc_auc when scores were given.",
    )
    by_group = serializers.DictField(
        child=serializers.DictField(
            child=serializers.DictField(child=serializers.FloatField(allow_null=True))
        ),
        help_text="{sensitive column: {group: {figure: value}}}; groups numbered when their names are hidden.",
    )
    equalized_odds_difference = serializers.DictField(child=serializers.FloatField(allow_null=True))
    demographic_parity_difference = serializers.DictField(child=serializers.FloatField(allow_null=True))
    warnings = serializers.ListField(child=serializers.CharField())
    overlaps_training = serializers.BooleanField()
    groups_hidden = serializers.BooleanField()
    requested_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
