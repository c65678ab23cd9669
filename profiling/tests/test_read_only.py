"""Profiling's reads only read: every public function of its read modules (selectors, visibility, the
search facet) runs under ``no_writes()`` on data that makes it do real work, and the table below must
name each of them, so that a new read cannot slip by untested."""

import pytest

from catalog import services as catalog_services
from catalog.models import Dataset
from profiling import facets, monitor_selectors, monitors, selectors, visibility
from profiling.models import Alert, ProfileRun
from profiling.tests.factories import credit_csv
from tests.read_only import no_writes, public_functions

pytestmark = pytest.mark.django_db


@pytest.fixture
def profiled(dataset, add_version, owner, steward):
    """An internal dataset and a confidential one, each with a profiled version and a quality result."""
    catalog_services.update_dataset(
        actor=owner, dataset=dataset, sensitive_columns=["gender"], label_column="approved", positive_label=1
    )
    add_version(dataset, credit_csv(60))
    add_version(dataset, credit_csv(60, seed=3))
    secret = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="secret",
        stewards=[steward.username],
        sensitivity="confidential",
    )
    add_version(secret, credit_csv(30))
    assert ProfileRun.objects.filter(status="succeeded").count() == 3
    # A monitor pinned to version 1 whose PSI rule fires: an alert to read, drift to compute.
    monitors.set_monitor(
        actor=owner, dataset=dataset, reference=1, rules=[{"metric": "psi", "threshold": 0.0}]
    )
    assert Alert.objects.exists()
    dataset.refresh_from_db()
    secret.refresh_from_db()
    return dataset, secret


def _calls(dataset, secret, outsider) -> dict:
    """module -> {public function name: a call that makes it read}."""
    version = dataset.versions.order_by("-number").first()
    secret_version = secret.versions.get()
    profile = selectors.profile_answer(secret_version)
    suite = selectors.suite_answer(secret)
    pii = selectors.latest_profile_summary(dataset)["pii"]
    matches = Dataset.objects.all()

    def never(user, ds) -> bool:
        return False

    return {
        selectors: {
            "governance_warnings": lambda: selectors.governance_warnings(dataset=dataset, pii=pii),
            "profile_for_version": lambda: selectors.profile_for_version(version),
            "profile_figures": lambda: selectors.profile_figures(version),
            "profile_answer": lambda: selectors.profile_answer(version),
            "latest_profile_summary": lambda: selectors.latest_profile_summary(dataset),
            "quality_history": lambda: selectors.quality_history(dataset),
            "suite_for_dataset": lambda: selectors.suite_for_dataset(dataset),
            "suite_answer": lambda: selectors.suite_answer(dataset),
        },
        visibility: {
            "register_value_viewer_check": lambda: visibility.register_value_viewer_check(never),
            "may_see_values": lambda: visibility.may_see_values(outsider, secret),
            "hide_kwargs": lambda: visibility.hide_kwargs({"column": "email", "value_set": ["a@b.org"]}),
            "suite_for_viewer": lambda: visibility.suite_for_viewer(suite, user=outsider, dataset=secret),
            "profile_for_viewer": lambda: visibility.profile_for_viewer(
                profile, user=outsider, dataset=secret
            ),
            "profile_without_values": lambda: visibility.profile_without_values(profile, dataset=secret),
            "is_protected": lambda: visibility.is_protected(secret),
            "quality_history_for_viewer": lambda: visibility.quality_history_for_viewer(
                [], user=outsider, dataset=secret
            ),
        },
        monitor_selectors: {
            "monitor_of": lambda: monitor_selectors.monitor_of(dataset),
            "monitor_answer": lambda: monitor_selectors.monitor_answer(dataset, user=outsider),
            "alert_list": lambda: list(monitor_selectors.alert_list(user=outsider, dataset=dataset.urn)),
            "alert_answer": lambda: monitor_selectors.alert_answer(Alert.objects.first(), user=outsider),
            "snapshot_of_run": lambda: monitor_selectors.snapshot_of_run(
                ProfileRun.objects.get(version=version), pinned=1
            ),
            "latest_succeeded_run": lambda: monitor_selectors.latest_succeeded_run(dataset.pk),
            "drift_series": lambda: monitor_selectors.drift_series(dataset, column="age"),
            "drift_columns": lambda: monitor_selectors.drift_columns(dataset),
        },
        facets: {
            "judged_for": lambda: list(facets.judged_for(matches, outsider)),
            "quality_counts": lambda: facets.quality_counts(matches, outsider),
            "quality_filter": lambda: list(facets.quality_filter(matches, "passing", outsider)),
            "register_quality_facet": facets.register_quality_facet,
        },
    }, never


def test_every_public_read_of_profiling_only_reads(profiled, outsider):
    dataset, secret = profiled
    calls, never = _calls(dataset, secret, outsider)
    try:
        for module, table in calls.items():
            assert set(table) == public_functions(module), module.__name__
            for name, call in table.items():
                with no_writes() as seen:
                    answer = call()
                assert answer is not None or name.startswith("register"), name
                if module is not visibility and name not in ("governance_warnings", "register_quality_facet"):
                    assert seen, f"{module.__name__}.{name} ran no query"
    finally:
        if never in visibility._checks:
            visibility._checks.remove(never)


def test_the_reads_did_real_work(profiled, outsider, staff):
    """The data above is not empty answers: warnings, hidden values and facet counts are there."""
    dataset, secret = profiled
    pii = selectors.latest_profile_summary(dataset)["pii"]
    assert selectors.governance_warnings(dataset=dataset, pii=pii)
    shown = visibility.profile_for_viewer(
        selectors.profile_answer(secret.versions.get()), user=outsider, dataset=secret
    )
    assert shown["values_hidden"]
    every = Dataset.objects.all()
    assert sum(c["count"] for c in facets.quality_counts(every, staff)) == 2
    passing = set(facets.quality_filter(every, "passing", staff).values_list("pk", flat=True))
    failing = set(facets.quality_filter(every, "failing", staff).values_list("pk", flat=True))
    assert passing | failing == {dataset.pk, secret.pk} and not passing & failing
    assert not facets.quality_filter(every, "unknown", staff).exists()
    # The protected dataset's verdict is not the outsider's to learn, in the counts or by filtering.
    assert sum(c["count"] for c in facets.quality_counts(every, outsider)) == 1
    assert secret.pk not in set(
        facets.quality_filter(every, "passing", outsider).values_list("pk", flat=True)
    )
    assert secret.pk not in set(
        facets.quality_filter(every, "failing", outsider).values_list("pk", flat=True)
    )
    series = monitor_selectors.drift_series(dataset, column="age")
    assert series["reference"] == 1 and [p["version"] for p in series["points"]] == [2]
