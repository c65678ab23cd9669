"""manage.py load_demo: the first screen is not empty, and loading twice changes nothing."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Dataset, DatasetVersion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def counts() -> dict:
    from governance.models import AccessRequest, RegisteredModel

    return {
        "users": get_user_model().objects.count(),
        "datasets": Dataset.objects.count(),
        "versions": DatasetVersion.objects.count(),
        "requests": AccessRequest.objects.count(),
        "models": RegisteredModel.objects.count(),
    }


def test_load_demo_is_complete_and_idempotent(settings, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    out = io.StringIO()
    # Run the on-commit hooks (profiling is queued on commit; tasks run inline in the tests).
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=out)
    first = counts()

    by_name = {d.name: d for d in Dataset.objects.all()}
    penguins = by_name["ecology/palmer_penguins"]
    assert penguins.versions.count() == 2  # two versions: drift has something to compare
    assert penguins.label_column == "species" and penguins.sensitive_columns == ["sex"]
    # Watched against version 1: version 2 adds a field season, and its drift is judged.
    monitor = penguins.monitor
    assert monitor.reference_version == 1 and monitor.rules.count() == 5
    assert monitor.last_evaluated_version == 2
    assert {d.sensitivity for d in by_name.values()} >= {"public", "internal", "confidential", "restricted"}
    credit = by_name["risk.credit_applications"]
    assert credit.sensitivity == "confidential" and credit.label_column == "approved"
    assert credit.owner.username == "olivia_owner"
    assert list(credit.stewards.values_list("username", flat=True)) == ["sam_steward"]
    assert first["users"] == 4 and first["requests"] == 2 and first["models"] == 1
    # The versions were profiled and the e-mail column found.
    assert all(v.profile_status == "succeeded" for v in DatasetVersion.objects.all())
    email = credit.columns.get(name="applicant_email")
    assert email.is_pii and "email" in email.pii_kinds
    assert "API token" in out.getvalue() and "gouvernail-demo" in out.getvalue()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())
    assert counts() == first


def test_load_demo_refuses_to_plant_known_logins_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("load_demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="admin").exists()
