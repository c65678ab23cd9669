"""Web forms of governance: asking for access, deciding on it. The services (access_requests, ...) decide and write."""

from datetime import datetime, time

from django import forms
from django.utils import timezone

from catalog.forms import offer_teams
from governance.events import DESCRIPTIONS
from governance.models import Purpose


class AccessRequestForm(forms.Form):
    datasets = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Dataset URNs (dataset:<namespace>:<name>), one per line",
    )
    purpose = forms.ChoiceField(choices=Purpose.choices, initial=Purpose.TRAINING)
    model = forms.CharField(max_length=255, required=False, help_text="The model you will train, if any")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), help_text="Why you need the data (Markdown)"
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the last day you need access",
    )

    def service_data(self) -> dict:
        data = self.cleaned_data
        urns = [line.strip() for line in data["datasets"].splitlines() if line.strip()]
        expires = None
        if data.get("expires_on"):
            expires = timezone.make_aware(datetime.combine(data["expires_on"], time(23, 59, 59)))
        return {
            "datasets": list(dict.fromkeys(urns)),
            "purpose": data["purpose"],
            "model_name": data.get("model") or "",
            "justification": data["justification"],
            "expires_at": expires,
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10_000)


class RevokeForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10_000)


# The API's words (rest_framework's FloatField and IntegerField) for a value that is not a number,
# so that the page and PUT /api/v1/datasets/{id}/policy/ say the same thing; the range messages
# ("Ensure this value is greater than or equal to 0.") are already the same in both.
NOT_A_NUMBER = {"invalid": "A valid number is required."}
NOT_AN_INTEGER = {"invalid": "A valid integer is required."}


class DatasetPolicyForm(forms.Form):
    """A dataset's policy as its owner, a steward or staff sets it. An empty field removes the
    condition; dataset_policies.set_dataset_policy checks the same ranges again and writes."""

    require_quality_pass = forms.BooleanField(
        required=False,
        label="Require a passing quality suite",
        help_text="Clearance needs the latest profiled version to pass its quality suite.",
    )
    max_parity_difference = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Cap on demographic parity difference",
        help_text="Between 0 and 1, e.g. 0.1; empty for no cap. Checked on every sensitive column.",
        error_messages=NOT_A_NUMBER,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    max_approval_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Cap on an approval's age (days)",
        help_text="An approval counts for at most this many days; empty for no cap.",
        error_messages=NOT_AN_INTEGER,
    )

    @classmethod
    def initial_for(cls, policy) -> dict:
        if policy is None:
            return {}
        return {
            "require_quality_pass": policy.require_quality_pass,
            "max_parity_difference": policy.max_parity_difference,
            "max_approval_days": policy.max_approval_days,
        }

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}


class ModelPolicyForm(forms.Form):
    """A model's release policy as its owner or staff sets it (PUT /api/v1/models/{id}/policy's
    fields and ranges). An empty field removes the condition; release.set_model_policy checks again."""

    max_equalized_odds_difference = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Cap on equalized-odds difference",
        help_text="Between 0 and 1, e.g. 0.1; empty for no cap. Checked on every sensitive column.",
        error_messages=NOT_A_NUMBER,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    min_accuracy = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Smallest accuracy",
        help_text="Between 0 and 1, e.g. 0.8; empty for no floor.",
        error_messages=NOT_A_NUMBER,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    require_independent_evaluation = forms.BooleanField(
        required=False,
        label="Require an evaluation on data the model was not trained on",
    )

    @classmethod
    def initial_for(cls, values: dict) -> dict:
        return dict(values)

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}


CARD_TEXT_LIMIT = 50_000  # as ModelVersionUpdateSerializer and registry.MAX_CARD_TEXT
CARD_TEXT_ERRORS = {"max_length": f"Ensure this field has no more than {CARD_TEXT_LIMIT} characters."}


class ModelCardForm(forms.Form):
    """What a model's owner writes on its card. Same rules as PATCH /api/v1/models/{id}/: optional,
    trimmed, at most 50,000 characters, with the API's message; the service checks again and writes."""

    intended_use = forms.CharField(
        required=False,
        max_length=CARD_TEXT_LIMIT,
        error_messages=CARD_TEXT_ERRORS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown: what the model is for, who should use it, what it must not be used for.",
    )
    caveats = forms.CharField(
        required=False,
        max_length=CARD_TEXT_LIMIT,
        error_messages=CARD_TEXT_ERRORS,
        label="Caveats and recommendations",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown: known limits, groups it was not evaluated on, advice to users.",
    )

    def service_data(self) -> dict:
        return {"intended_use": self.cleaned_data["intended_use"], "caveats": self.cleaned_data["caveats"]}


class ModelTeamsForm(forms.Form):
    """The groups answerable for a model, picked by its owner or staff (registry decides and writes)."""

    owner_group = forms.ChoiceField(required=False, help_text="Any member acts as the model's owner")
    steward_groups = forms.MultipleChoiceField(
        required=False, help_text="Members edit the card (Ctrl/⌘-click for several)"
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_teams(self, user)

    def service_data(self) -> dict:
        return {
            "owner_group": self.cleaned_data["owner_group"] or None,
            "steward_groups": self.cleaned_data["steward_groups"],
        }


# The events offered as checkboxes: each name of the catalogue, access requests' steps as one.
EVENT_CHOICES = [(name, f"{name} — {text}") for name, text in DESCRIPTIONS.items()]


class SubscriptionForm(forms.Form):
    """Subscribe to events (governance.subscriptions checks everything again, and decides)."""

    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one event."},
    )
    dataset = forms.CharField(
        max_length=600,
        required=False,
        label="Dataset (URN)",
        help_text="Only this dataset (dataset:<namespace>:<name>); empty: everything you may see",
    )
    namespace = forms.CharField(
        max_length=255, required=False, help_text="Or only this namespace, e.g. s3://lake"
    )
    group = forms.ChoiceField(required=False, label="For", help_text="Yourself, or a group you belong to")
    url = forms.CharField(
        max_length=2000,
        required=False,
        label="Webhook URL",
        help_text="Each event is POSTed here, signed (docs/events.md); a public https:// address",
    )
    format = forms.ChoiceField(
        choices=[("json", "JSON, signed"), ("slack", "Slack incoming webhook")],
        initial="json",
        widget=forms.RadioSelect,
    )
    email = forms.BooleanField(required=False, label="E-mail me (or the group's members)")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        groups = list(user.groups.order_by("name").values_list("name", flat=True)) if user is not None else []
        self.fields["group"].choices = [("", "Myself"), *((g, g) for g in groups)]

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {
            "events": data["events"],
            "dataset": data.get("dataset") or None,
            "namespace": data.get("namespace") or None,
            "group": data.get("group") or None,
            "url": data.get("url") or None,
            "email": bool(data.get("email")),
            "format": data.get("format") or "json",
        }


class EvaluationForm(forms.Form):
    """Evaluate a model version on a dataset version holding its predictions."""

    dataset = forms.CharField(
        max_length=1000, help_text="The evaluation data: <dataset URN>@<version number>"
    )
    label_column = forms.CharField(max_length=255)
    prediction_column = forms.CharField(max_length=255)
    score_column = forms.CharField(max_length=255, required=False, help_text="Optional: scores give ROC AUC")
    positive_label = forms.CharField(
        max_length=255,
        required=False,
        help_text="Optional: the positive label (default: the dataset's, or 1)",
    )

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {
            "dataset": data["dataset"].strip(),
            "label_column": data["label_column"],
            "prediction_column": data["prediction_column"],
            "score_column": data.get("score_column") or "",
            "positive_label": data.get("positive_label") or None,
        }
