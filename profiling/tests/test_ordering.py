"""Versions whose profiles finish out of order (QA F2), and registered files that changed (QA F19).

The jobs are run by hand in the "wrong" order (a later version first), as two workers do when a
small file is uploaded right after a big one.
"""

from types import SimpleNamespace

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from catalog.models import OutboxMessage
from profiling import jobs, results, runner, suites
from profiling.models import ExpectationSuite, ProfileRun, QualityResult
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

OTHER_COLUMNS = "nom,ville,age\n" + "".join(f"n{i},Lyon,{20 + i % 50}\n" for i in range(120))


@pytest.fixture
def store(data_root, owner, django_capture_on_commit_callbacks):
    """store(dataset, text) → a version whose profile job is pending (its message not run)."""
    counter = {"n": 0}

    def add(dataset, content: str):
        counter["n"] += 1
        path = data_root / f"{dataset.pk}-{counter['n']}.csv"
        path.write_text(content)
        with django_capture_on_commit_callbacks(execute=False):
            version, _ = catalog_versions.add_version_from_uri(
                actor=owner, dataset=dataset, uri=path.as_uri()
            )
            # what the version_stored receiver does on commit, minus running the message
            jobs.queue_profile(version=version)
        # The message is in the broker, not yet run: the outbox has handed it over.
        OutboxMessage.objects.filter(sent_at__isnull=True).update(sent_at=timezone.now())
        return version

    return add


@pytest.fixture
def run_job(django_capture_on_commit_callbacks):
    """run_job(version): one worker runs the version's job now (and whatever it queues, eagerly)."""

    def run(version) -> ProfileRun:
        job = ProfileRun.objects.get(version=version)
        with django_capture_on_commit_callbacks(execute=True):
            runner.execute_profile_run(run_id=job.pk, heartbeat=False)
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        return job

    return run


def _dataset(owner, name):
    return catalog_services.create_dataset(actor=owner, namespace="s3://race", name=name)


def test_drift_of_a_version_finished_first_is_filled_in_when_its_predecessor_finishes(owner, store, run_job):
    dataset = _dataset(owner, "drift")
    v1 = store(dataset, credit_csv(300, seed=1))
    v2 = store(dataset, credit_csv(100, seed=2))

    assert run_job(v2).drift is None  # nothing earlier has finished yet
    run_job(v1)

    v2_run = ProfileRun.objects.get(version=v2)
    assert v2_run.drift is not None and v2_run.drift["previous_version"] == 1
    assert ProfileRun.objects.get(version=v1).drift is None


def test_drift_follows_the_nearest_earlier_version_whatever_the_order(owner, store, run_job):
    dataset = _dataset(owner, "drift3")
    versions = [store(dataset, credit_csv(80 + 40 * i, seed=i)) for i in range(1, 4)]

    assert run_job(versions[2]).drift is None
    run_job(versions[0])
    assert ProfileRun.objects.get(version=versions[2]).drift["previous_version"] == 1
    run_job(versions[1])

    drifts = {r.version_number: r.drift for r in ProfileRun.objects.filter(dataset=dataset)}
    assert drifts[1] is None
    assert drifts[2]["previous_version"] == 1
    assert drifts[3]["previous_version"] == 2


def test_the_suite_comes_from_the_first_version_even_when_a_later_one_finishes_first(owner, store, run_job):
    wrong = _dataset(owner, "suite-wrong-order")
    w1, w2 = store(wrong, credit_csv(200)), store(wrong, OTHER_COLUMNS)
    run_job(w2)
    assert ExpectationSuite.objects.get(dataset=wrong).meta["proposed_from_version"] == 2

    v1_run = run_job(w1)

    # Version 1 is not judged by expectations on version 2's columns ...
    assert v1_run.quality["success"] is True and v1_run.quality["score"] == 1.0
    checked = {r.get("column") for r in v1_run.quality["results"]} - {None}
    assert checked and "nom" not in checked
    # ... the suite is now version 1's, and version 2 was judged again by it.
    suite = ExpectationSuite.objects.get(dataset=wrong)
    assert suite.meta["proposed_from_version"] == 1 and suite.origin == "proposed"
    w2_result = QualityResult.objects.get(version=w2)
    assert w2_result.method["suite_proposed_from"] == 1
    assert ProfileRun.objects.get(version=w2).status == "succeeded"

    # The same files profiled in the right order end in the same suite and the same judgements.
    right = _dataset(owner, "suite-right-order")
    r1, r2 = store(right, credit_csv(200)), store(right, OTHER_COLUMNS)
    run_job(r1)
    run_job(r2)
    right_suite = ExpectationSuite.objects.get(dataset=right)
    assert right_suite.expectations == suite.expectations
    r2_result = QualityResult.objects.get(version=r2)
    assert (r2_result.success, r2_result.score) == (w2_result.success, w2_result.score)
    assert r2_result.successful == w2_result.successful and r2_result.evaluated == w2_result.evaluated


def test_an_edited_suite_is_never_replaced_by_a_late_proposal(owner, store, run_job):
    dataset = _dataset(owner, "edited")
    v1, v2 = store(dataset, credit_csv(200)), store(dataset, OTHER_COLUMNS)
    run_job(v2)
    edited = [{"type": "expect_column_to_exist", "kwargs": {"column": "nom"}, "meta": {}}]
    suites.save_suite(actor=owner, dataset=dataset, expectations=edited)

    run_job(v1)

    suite = ExpectationSuite.objects.get(dataset=dataset)
    assert suite.origin == "edited" and [e["kwargs"] for e in suite.expectations] == [{"column": "nom"}]
    # The steward's suite is what version 1 is judged by now (it asks for a column v1 lacks).
    assert QualityResult.objects.get(version=v1).success is False


def test_a_registered_file_that_changed_is_not_profiled(dataset, add_version, data_root, owner):
    version = add_version(dataset, credit_csv(50, seed=1))
    assert ProfileRun.objects.get(version=version).status == "succeeded"
    path = data_root / version.original_name
    original = path.read_bytes()
    # Same size, other bytes: only the checksum tells.
    changed = bytearray(original)
    changed[-2] = ord("7") if changed[-2] != ord("7") else ord("8")
    path.write_bytes(bytes(changed))

    jobs.request_rerun(actor=owner, version=version)
    runner.execute_profile_run(run_id=ProfileRun.objects.get(version=version).pk, heartbeat=False)

    run = ProfileRun.objects.get(version=version)
    assert run.status == "failed"
    assert f"changed since version {version.number} was registered" in run.error
    assert version.checksum in run.error and "register it again as a new version" in run.error

    # Another size fails on the size alone, and the bytes put back profile again.
    path.write_bytes(original + b"1,2,3\n")
    jobs.request_rerun(actor=owner, version=version)
    runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    run.refresh_from_db()
    assert run.status == "failed" and "size" in run.error
    path.write_bytes(original)
    jobs.request_rerun(actor=owner, version=version)
    runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error


def test_a_job_whose_proposal_was_superseded_while_it_ran_is_judged_again(
    owner, store, run_job, django_capture_on_commit_callbacks
):
    dataset = _dataset(owner, "superseded")
    v1, v2 = store(dataset, credit_csv(200)), store(dataset, OTHER_COLUMNS)
    job2 = ProfileRun.objects.get(version=v2)
    claimed, _ = jobs.claim_run(run_id=job2.pk, token="slow")
    computed = runner._compute(claimed, runner._Progress(job2.pk, "slow"))
    assert computed.suite_source == 2  # no suite yet: v2 judged itself by its own proposal
    run_job(v1)  # meanwhile version 1 finished and proposed the suite

    with django_capture_on_commit_callbacks(execute=True):
        assert results.write_results(run_id=job2.pk, token="slow", computed=computed).state == "succeeded"

    assert ExpectationSuite.objects.get(dataset=dataset).meta["proposed_from_version"] == 1
    job2.refresh_from_db()
    assert job2.status == "succeeded" and job2.drift["previous_version"] == 1
    assert QualityResult.objects.get(version=v2).method["suite_proposed_from"] == 1


def test_a_registered_file_whose_stat_held_is_not_hashed_again(
    dataset, add_version, data_root, owner, monkeypatch
):
    """Registration keeps the file's stat when the file had settled; profiling then trusts it
    instead of hashing the file again, and hashes again (and refuses) once a write moved it."""
    from catalog import files

    monkeypatch.setattr(files, "STAT_SETTLED_NS", 0)  # the test's file was written just now
    version = add_version(dataset, credit_csv(50, seed=1))
    assert version.file_stat == files.file_stat(data_root / version.original_name)

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed again although the stat held")

    with monkeypatch.context() as patched:
        patched.setattr(runner, "hashlib", SimpleNamespace(sha256=no_hashing))  # runner's alone
        jobs.request_rerun(actor=owner, version=version)
        runner.execute_profile_run(run_id=ProfileRun.objects.get(version=version).pk, heartbeat=False)
    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error

    path = data_root / version.original_name
    changed = bytearray(path.read_bytes())
    changed[-2] = ord("7") if changed[-2] != ord("7") else ord("8")
    path.write_bytes(bytes(changed))  # same size, other bytes, a new ctime
    jobs.request_rerun(actor=owner, version=version)
    runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    run.refresh_from_db()
    assert run.status == "failed" and version.checksum in run.error


def test_a_file_changed_just_before_registration_is_not_trusted_by_its_stat(dataset, add_version):
    """Times are kept in coarse ticks: a write in the same tick could leave the stat unmoved."""
    version = add_version(dataset, credit_csv(50, seed=1))  # written a moment ago
    assert version.file_stat == ""
