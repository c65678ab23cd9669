"""Web forms of the catalog. They shape what people type; catalog.services decide and write."""

import json

from django import forms
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from catalog.models import Sensitivity


def split_list(value: str) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c']: lists are typed as comma-separated text in forms."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def join_list(values) -> str:
    return ", ".join(values or [])


def parse_label(value: str):
    """A positive label as typed: numbers and true/false become JSON values, anything else text.

    Profiling compares the label column's values with it, so '1' typed for an integer column must be 1.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (int, float, bool, str)) else value


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: field errors by field, the rest on top."""
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            target = field if field in form.fields else None
            prefix = "" if target or field in ("__all__", "non_field_errors") else f"{field}: "
            form.add_error(target, [prefix + m for m in messages])
    else:
        form.add_error(None, exc.messages)


def offer_teams(form: forms.Form, user) -> None:
    """Fill the group pickers of a form with an ``owner_group`` and a ``steward_groups`` field: every
    group as steward; as owner, only the user's own groups and the current one, unless staff
    (catalog.teams refuses the others anyway; this offers none of them)."""
    names = list(Group.objects.order_by("name").values_list("name", flat=True))
    form.fields["steward_groups"].choices = [(n, n) for n in names]
    current = (form.initial or {}).get("owner_group") or ""
    if user is not None and not user.is_staff:
        mine = set(user.groups.values_list("name", flat=True))
        names = [n for n in names if n in mine or n == current]
    form.fields["owner_group"].choices = [("", "— none —"), *((n, n) for n in names)]


class DatasetMetadataForm(forms.Form):
    """What a steward edits about a dataset; also the second half of registering one."""

    title = forms.CharField(max_length=255, required=False)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        help_text="Markdown. Use Preview to see it as readers will.",
    )
    domain = forms.CharField(max_length=100, required=False, help_text="e.g. sales, health, marketing")
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. gold, customers")
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.INTERNAL)
    stewards = forms.CharField(required=False, help_text="Usernames, comma-separated")
    # Teams: any member of the owner group acts as owner, any member of a steward group as steward.
    owner_group = forms.ChoiceField(
        required=False, help_text="A team that owns the dataset: any member acts as its owner"
    )
    steward_groups = forms.MultipleChoiceField(
        required=False, help_text="Teams whose members act as stewards (Ctrl/⌘-click for several)"
    )
    sensitive_columns = forms.CharField(
        required=False, help_text="Columns to check for bias (e.g. sex, age_band), comma-separated"
    )
    label_column = forms.CharField(max_length=255, required=False, help_text="The column a model learns")
    positive_label = forms.CharField(required=False, help_text="The label value that counts as positive")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        offer_teams(self, user)

    def without_owner_group(self) -> None:
        """Only the owner or staff hand a dataset to another owner group: others are not offered it."""
        del self.fields["owner_group"]

    def limit_sensitivity(self, current: str) -> None:
        """Offer only the current and stricter sensitivities.

        For a steward: lowering a dataset's sensitivity is the owner's (or staff's) decision, since a
        steward alone could otherwise undo the two-person rule of restricted data (catalog.services
        refuses it anyway; this keeps the control from being offered).
        """
        values = list(Sensitivity.values)
        rank = values.index(current) if current in values else 0
        field = self.fields["sensitivity"]
        field.choices = [(v, label) for v, label in Sensitivity.choices if values.index(v) >= rank]
        field.help_text = "Only the owner or staff may lower it."

    def service_data(self) -> dict:
        """The cleaned input as keyword arguments for catalog.services."""
        data = dict(self.cleaned_data)
        for key in ("tags", "stewards", "sensitive_columns"):
            data[key] = split_list(data[key])
        data["positive_label"] = parse_label(data["positive_label"])
        if "owner_group" in data:
            data["owner_group"] = data["owner_group"] or None
        return data

    @classmethod
    def initial_for(cls, dataset) -> dict:
        label = dataset.positive_label
        return {
            "title": dataset.title,
            "description": dataset.description,
            "domain": dataset.domain,
            "tags": join_list(t.name for t in dataset.tags.all()),
            "sensitivity": dataset.sensitivity,
            "stewards": join_list(u.username for u in dataset.stewards.all()),
            "owner_group": dataset.owner_group.name if dataset.owner_group_id else "",
            "steward_groups": sorted(g.name for g in dataset.steward_groups.all()),
            "sensitive_columns": join_list(dataset.sensitive_columns),
            "label_column": dataset.label_column,
            "positive_label": ""
            if label is None
            else (label if isinstance(label, str) else json.dumps(label)),
        }


class DatasetCreateForm(DatasetMetadataForm):
    namespace = forms.CharField(
        max_length=255,
        help_text="Where the data lives, as OpenLineage names it: s3://lake, postgres://db:5432",
    )
    name = forms.CharField(max_length=255, help_text="e.g. sales/orders or public.customers")
    field_order = ["namespace", "name", "title", "description"]


class ColumnForm(forms.Form):
    # autofocus: after htmx swaps the editor into the row, the keyboard lands in it.
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}), required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated")
    is_pii = forms.BooleanField(required=False, label="Holds personal data (PII)")

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["tags"] = split_list(data["tags"])
        return data


class VersionUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, TSV, Parquet or JSON Lines; gzip allowed")
