"""profiling.suites beyond the job: suites and the hooks other apps listen to."""

import pytest

from profiling import signals, suites
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db


def test_suite_changes_and_finished_profiles_are_announced_after_commit(
    dataset, add_version, owner, django_capture_on_commit_callbacks
):
    heard = []

    def on_suite(sender, **kw):
        heard.append(("suite", kw["origin"], kw["changes"], kw["actor"]))

    def on_profile(sender, **kw):
        heard.append(("profile", kw["version"].number, kw["status"]))

    signals.suite_changed.connect(on_suite, dispatch_uid="test-suite")
    signals.profile_finished.connect(on_profile, dispatch_uid="test-profile")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            suites.save_suite(
                actor=owner,
                dataset=dataset,
                expectations=[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
            )
        add_version(dataset, credit_csv(10))
    finally:
        signals.suite_changed.disconnect(dispatch_uid="test-suite")
        signals.profile_finished.disconnect(dispatch_uid="test-profile")

    assert heard == [
        ("suite", "edited", {"expectation_suite.version": [0, 1]}, owner),
        ("profile", 1, "succeeded"),
    ]


def test_an_outsider_cannot_import_a_suite(dataset, outsider):
    from config.errors import NotAllowed

    with pytest.raises(NotAllowed):
        suites.import_suite(actor=outsider, dataset=dataset, data={"name": "x", "expectations": []})
