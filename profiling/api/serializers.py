"""Profiling API shapes. They document the answers (OpenAPI) and check the shape of input;
Great Expectations itself checks expectations (profiling.quality), services write."""

from rest_framework import serializers


class QuantilesSerializer(serializers.Serializer):
    def get_fields(self):
        return {q: serializers.FloatField(allow_null=True) for q in ("0.01", "0.25", "0.5", "0.75", "0.99")}


class HistogramSerializer(serializers.Serializer):
    bins = serializers.ListField(child=serializers.JSONField())
    counts = serializers.ListField(child=serializers.IntegerField())


class TopValueSerializer(serializers.Serializer):
    value = serializers.JSONField(allow_null=True)
    count = serializers.IntegerField()


class ProfileColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    null_count = serializers.IntegerField(allow_null=True)
    null_fraction = serializers.FloatField(allow_null=True)
    distinct_count = serializers.IntegerField(allow_null=True)
    min = serializers.JSONField(allow_null=True)
    max = serializers.JSONField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True)
    quantiles = QuantilesSerializer(allow_null=True)
    histogram = HistogramSerializer(allow_null=True)
    top_values = TopValueSerializer(many=True)
    pii = serializers.ListField(child=serializers.CharField())
    non_finite_count = serializers.IntegerField(
        required=False, help_text="NaN or infinite cells, left out of the statistics (present when any)."
    )


class QualityItemSerializer(serializers.Serializer):
    expectation = serializers.CharField(help_text="Great Expectations expectation type.")
    column = serializers.CharField(allow_null=True)
    kwargs = serializers.DictField()
    success = serializers.BooleanField()
    observed = serializers.JSONField(allow_null=True)
    sampled = serializers.BooleanField(required=False, help_text="Validated on a stated sample (big files).")


class QualitySerializer(serializers.Serializer):
    success = serializers.BooleanField()
    score = serializers.FloatField(help_text="Share of expectations that passed, 0..1.")
    results = QualityItemSerializer(many=True)


class GovernanceWarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    column = serializers.CharField(allow_null=True)
    kinds = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()


class BiasGroupSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    positive_rate = serializers.FloatField(allow_null=True)
    missing_fraction = serializers.FloatField(allow_null=True)


class BiasAttributeSerializer(serializers.Serializer):
    groups = serializers.DictField(
        child=BiasGroupSerializer(),
        help_text="By group (a value of the sensitive column); empty when values are hidden (values_hidden).",
    )
    demographic_parity_difference = serializers.FloatField(allow_null=True)
    demographic_parity_ratio = serializers.FloatField(allow_null=True)


class UnderrepresentedSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    group = serializers.JSONField(required=False, help_text="Absent when values are hidden (values_hidden).")
    share = serializers.FloatField(allow_null=True)


class ProxySerializer(serializers.Serializer):
    column = serializers.CharField()
    sensitive_column = serializers.CharField()
    cramers_v = serializers.FloatField(allow_null=True)
    mutual_information = serializers.FloatField(allow_null=True, required=False)


class BiasSerializer(serializers.Serializer):
    """API.md's bias object, plus the warnings, under-represented groups and proxy columns found."""

    label_column = serializers.CharField(allow_null=True)
    positive_label = serializers.JSONField(allow_null=True, help_text="The dataset's setting when profiled.")
    attributes = serializers.DictField(child=BiasAttributeSerializer(), help_text="By sensitive column.")
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    underrepresented = UnderrepresentedSerializer(many=True, required=False)
    proxies = ProxySerializer(many=True, required=False)


class DriftColumnSerializer(serializers.Serializer):
    psi = serializers.FloatField(allow_null=True)
    ks_pvalue = serializers.FloatField(allow_null=True)
    drifted = serializers.BooleanField()


class SchemaChangeSerializer(serializers.Serializer):
    change = serializers.ChoiceField(choices=["added", "removed", "retyped"])
    column = serializers.CharField()
    before = serializers.CharField(required=False, help_text="The type before (removed, retyped).")
    after = serializers.CharField(required=False, help_text="The type now (added, retyped).")


class DriftSerializer(serializers.Serializer):
    previous_version = serializers.IntegerField()
    columns = serializers.DictField(child=DriftColumnSerializer(), help_text="By column.")
    schema_changes = SchemaChangeSerializer(many=True)


VALUES_HIDDEN_HELP = (
    "Null when the caller sees everything. Otherwise why values were left out: the dataset is confidential "
    "or restricted and the caller is not its owner, a steward, staff or the holder of an approved access "
    "request. docs/governance.md lists what such a caller sees."
)


class ProfileSerializer(serializers.Serializer):
    """API.md's profile object, plus attempts, warnings, governance_warnings, method and values_hidden."""

    status = serializers.ChoiceField(choices=["pending", "running", "succeeded", "failed", "skipped"])
    progress = serializers.FloatField()
    error = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    row_count = serializers.IntegerField(allow_null=True)
    columns = ProfileColumnSerializer(many=True)
    quality = QualitySerializer(allow_null=True)
    bias = BiasSerializer(allow_null=True, help_text="Null without sensitive_columns.")
    drift = DriftSerializer(allow_null=True, help_text="Null for a first version.")
    attempts = serializers.IntegerField(help_text="How many times a worker took the job.")
    warnings = serializers.ListField(child=serializers.CharField())
    governance_warnings = GovernanceWarningSerializer(many=True)
    method = serializers.DictField(
        help_text="How statistics and quality were computed (exact, sketched, sampled)."
    )
    values_hidden = serializers.CharField(allow_null=True, help_text=VALUES_HIDDEN_HELP)


class ExpectationSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="A Great Expectations 1.x expectation type.")
    kwargs = serializers.DictField(required=False, default=dict)
    meta = serializers.DictField(required=False, default=dict)


class SuiteSerializer(serializers.Serializer):
    """A dataset's expectation suite in Great Expectations' own form, with our bookkeeping."""

    name = serializers.CharField(max_length=255)
    expectations = ExpectationSerializer(many=True)
    meta = serializers.DictField()
    version = serializers.IntegerField(read_only=True)
    origin = serializers.CharField(read_only=True, allow_null=True)
    updated_by = serializers.CharField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    values_hidden = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Null when the caller sees everything; otherwise why the expectations' literal values "
        "(value sets, regexes, a protected column's bounds) were removed.",
    )


class SuiteWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    # Shape only; GX validates each expectation in the service (unknown type → 400 naming it).
    expectations = serializers.ListField(child=serializers.JSONField())
    meta = serializers.DictField(required=False)
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The suite version you edited; if it changed meanwhile the answer is 409.",
    )


class GXSuiteExportSerializer(serializers.Serializer):
    """The JSON that GX's ``ExpectationSuite.to_json_dict()`` produces."""

    name = serializers.CharField(max_length=255, required=False)
    id = serializers.CharField(required=False, allow_null=True)
    expectations = serializers.ListField(child=serializers.JSONField())
    meta = serializers.DictField(required=False)
    notes = serializers.JSONField(required=False, allow_null=True)


class SuiteFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A suite JSON file that Great Expectations exported.")


class QualityHistoryItemSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    success = serializers.BooleanField()
    score = serializers.FloatField()
    evaluated = serializers.IntegerField()
    successful = serializers.IntegerField()
    suite_version = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class QualityHistoryPageSerializer(serializers.Serializer):
    """A page of quality history, as every list of the API is paginated."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = QualityHistoryItemSerializer(many=True)


class DPNumberSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    epsilon = serializers.FloatField(help_text="The privacy loss this figure was computed with.")
    ci95 = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)


class DPHistogramSerializer(serializers.Serializer):
    bins = serializers.ListField(
        child=serializers.JSONField(), help_text="The steward's bin edges, or the steward's categories."
    )
    counts = DPNumberSerializer(many=True)
    other = DPNumberSerializer(required=False, help_text="Rows in none of the categories.")


class DPColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(allow_null=True)
    null_count = DPNumberSerializer(allow_null=True)
    null_fraction = DPNumberSerializer(allow_null=True)
    mean = DPNumberSerializer(allow_null=True)
    quantiles = serializers.DictField(child=DPNumberSerializer(), allow_null=True)
    histogram = DPHistogramSerializer()
    min = serializers.JSONField(allow_null=True, help_text="Never released: always null.")
    max = serializers.JSONField(allow_null=True, help_text="Never released: always null.")
    distinct_count = serializers.JSONField(allow_null=True, help_text="Not released: always null.")
    std = serializers.JSONField(allow_null=True, help_text="Not released: always null.")
    top_values = serializers.ListField(
        child=serializers.JSONField(), help_text="Never released: always empty."
    )
    pii = serializers.ListField(child=serializers.CharField(), help_text="Not released: always empty.")


class DPBudgetSerializer(serializers.Serializer):
    epsilon_total = serializers.FloatField()
    epsilon_spent = serializers.FloatField()
    epsilon_per_release = serializers.FloatField(allow_null=True)


class DPOmittedSerializer(serializers.Serializer):
    column = serializers.CharField()
    reason = serializers.CharField()


class DPProfileSerializer(serializers.Serializer):
    """What a caller without clearance gets for a confidential or restricted dataset: a
    differentially private release (docs/privacy.md)."""

    status = serializers.CharField(help_text="The profile job's status, as in the exact profile.")
    progress = serializers.FloatField()
    error = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    release = serializers.ChoiceField(choices=["dp"])
    row_count = DPNumberSerializer(allow_null=True)
    columns = DPColumnSerializer(many=True)
    omitted = DPOmittedSerializer(many=True, help_text="Columns with nothing released, and why.")
    budget = DPBudgetSerializer()
    epsilon = serializers.FloatField(allow_null=True, help_text="What the release shown spent in all.")
    released_at = serializers.DateTimeField(allow_null=True)
    refusal = serializers.CharField(
        allow_null=True, help_text="Why no new release was made now, if none was."
    )
    quality = serializers.JSONField(allow_null=True, help_text="Exact figures: always null here.")
    bias = serializers.JSONField(allow_null=True, help_text="Exact figures: always null here.")
    drift = serializers.JSONField(allow_null=True, help_text="Exact figures: always null here.")
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Always empty here.")
    governance_warnings = serializers.ListField(child=serializers.JSONField(), help_text="Always empty here.")
    values_hidden = serializers.CharField()
