"""Web forms of governance: asking for access, deciding on it. governance.services decide and write."""

from datetime import datetime, time

from django import forms
from django.utils import timezone

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
