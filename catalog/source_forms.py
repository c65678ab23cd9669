"""Web forms of the sources' pages. They shape what people type (globs one a line, usernames
comma-separated); catalog.sources decides and writes, and its ValidationErrors are shown beside
the fields (catalog.forms.add_service_errors)."""

from __future__ import annotations

from urllib.parse import urlparse

from cron_descriptor import ExpressionDescriptor, Options
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from catalog.forms import join_list, split_list
from catalog.models import Sensitivity, Source, SourceKind, SourceLayout
from catalog.sources import check_cron

KEYS_LOCATION_HELP = (
    "The NAME of an environment variable, or of a file in the server's secrets folder, that holds "
    "the DSN or the keys, e.g. WAREHOUSE_DSN. Never the credentials themselves: they are not "
    "stored here, shown or logged."
)
GLOB_HELP = "One glob pattern a line: schema.table for PostgreSQL (sales.*), the key or path for files (raw/*.parquet)."
SCHEDULE_HELP = (
    "Cron, 5 fields: minute hour day-of-month month day-of-week ({tz}). "
    "“0 3 * * *” is every day at 03:00, “*/30 * * * *” every 30 minutes, “0 6 * * 1-5” weekdays at 06:00. "
    "Empty: only when someone presses Scan now."
)


def split_lines(value: str) -> list[str]:
    """One pattern a line, blank lines and surrounding spaces dropped, repeats once."""
    return list(dict.fromkeys(line.strip() for line in (value or "").splitlines() if line.strip()))


def describe_schedule(expr: str) -> str:
    """'0 3 * * *' → 'At 03:00 (UTC)'; '' → 'On demand only'. ValidationError for a bad expression
    (catalog.sources.check_cron's message, the one the service gives)."""
    expr = (expr or "").strip()
    if not expr:
        return "On demand only"
    expr = check_cron(expr)
    options = Options()
    options.use_24hour_time_format = True
    try:
        text = ExpressionDescriptor(expr, options).get_description()
    except Exception:  # noqa: BLE001 - celery accepted it; the describer is only a hint
        return expr
    return f"{text} ({settings.TIME_ZONE})"


class SourceSettingsForm(forms.Form):
    """What a source's managers change (its name, kind and URI are fixed once added)."""

    secret = forms.CharField(
        max_length=200, required=False, label="Secret name", help_text=KEYS_LOCATION_HELP
    )
    endpoint_url = forms.CharField(
        max_length=500,
        required=False,
        label="Endpoint URL",
        help_text="Object storage on an S3-compatible server (MinIO, Ceph…): http://host:9000. Empty for AWS.",
    )
    include = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=GLOB_HELP + " Empty: everything.",
    )
    exclude = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text=GLOB_HELP)
    layout = forms.ChoiceField(
        choices=SourceLayout.choices,
        initial=SourceLayout.AUTO,
        help_text="Object storage and folders: how files become datasets.",
    )
    schedule = forms.CharField(max_length=100, required=False)
    profile = forms.BooleanField(required=False, initial=True, label="Profile each new or changed dataset")
    sample_above_rows = forms.IntegerField(
        min_value=1,
        required=False,
        label="Sample tables above (rows)",
        help_text="PostgreSQL: profile a table with more rows than this on a sample (TABLESAMPLE). Empty: whole tables.",
    )
    owner = forms.CharField(
        max_length=150,
        required=False,
        help_text="A username. Datasets the source registers get its owner, stewards and sensitivity.",
    )
    stewards = forms.CharField(required=False, help_text="Usernames, comma-separated")
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.INTERNAL)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["schedule"].help_text = SCHEDULE_HELP.format(tz=settings.TIME_ZONE)

    def clean_schedule(self) -> str:
        """Checked here too (catalog.sources.check_cron, the service's own rule), so that its error
        shows beside the others at once."""
        value = self.cleaned_data["schedule"]
        if not value.strip():
            return ""
        try:
            return check_cron(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_endpoint_url(self) -> str:
        return _no_password(self.cleaned_data["endpoint_url"].strip(), "endpoint URL")

    def without_owner(self) -> None:
        """For a steward: handing the source to another owner is its owner's (or staff's) decision."""
        self.fields.pop("owner", None)

    def forget_credentials(self) -> None:
        """A refused secret, or a URL refused for holding a password, is not sent back in the page:
        it may be credentials pasted by mistake."""
        if not self.is_bound:
            return
        leaky = [f for f in ("uri", "endpoint_url") if f in self.errors and _has_password(self.data.get(f))]
        leaky += ["secret"] if "secret" in self.errors else []
        if leaky:
            self.data = self.data.copy()
            for name in leaky:
                self.data[name] = ""

    def service_data(self) -> dict:
        """The cleaned input as keyword arguments for catalog.sources."""
        data = dict(self.cleaned_data)
        for key in ("include", "exclude"):
            data[key] = split_lines(data[key])
        data["stewards"] = split_list(data["stewards"])
        data["secret"] = data["secret"].strip()
        if "owner" in data:
            owner = data.pop("owner").strip()
            if owner:  # empty: unchanged (a new source's owner is who adds it)
                data["owner"] = owner
        return data

    @classmethod
    def initial_for(cls, source: Source) -> dict:
        return {
            "secret": source.secret,
            "endpoint_url": source.endpoint_url,
            "include": "\n".join(source.include or []),
            "exclude": "\n".join(source.exclude or []),
            "layout": source.layout,
            "schedule": source.schedule,
            "profile": source.profile,
            "sample_above_rows": source.sample_above_rows,
            "owner": source.owner.username if source.owner_id else "",
            "stewards": join_list(u.username for u in source.stewards.all()),
            "sensitivity": source.sensitivity,
        }


class SourceCreateForm(SourceSettingsForm):
    """Adding a source: what it is and where, then its settings."""

    name = forms.CharField(max_length=200, help_text="How people will know it, e.g. Sales warehouse")
    kind = forms.ChoiceField(choices=SourceKind.choices)
    uri = forms.CharField(max_length=2000, label="URI")
    field_order = ["name", "kind", "uri", "secret", "endpoint_url"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        roots = ", ".join(str(p) for p in settings.DATA_ROOTS)
        self.fields["uri"].help_text = (
            "PostgreSQL: postgres://host:5432/database · object storage: s3://bucket/prefix/ · "
            f"folder: file:///path inside one of {roots}"
        )
        self.fields["owner"].help_text = self.fields["owner"].help_text.replace(
            "A username.", "A username; empty: you."
        )

    def clean_uri(self) -> str:
        return _no_password(self.cleaned_data["uri"].strip(), "URI")

    def service_data(self) -> dict:
        data = super().service_data()
        data["name"] = data["name"].strip()
        return data


def _has_password(value: str | None) -> bool:
    try:
        return bool(urlparse(value or "").password)
    except ValueError:
        return False


def _no_password(value: str, what: str) -> str:
    """Credentials go in the secret, never in a URL the catalog stores and shows."""
    if _has_password(value):
        raise ValidationError(
            f"Leave the password out of the {what}: put the credentials in the environment "
            "variable or file named by Secret name."
        )
    return value
