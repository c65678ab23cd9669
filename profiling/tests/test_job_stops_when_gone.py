"""A job whose dataset is deleted while it runs stops where it stands: its next progress write or
heartbeat finds the run gone, the job ends ("gone") without writing anything, without an error in
the log, and leaves no row behind. A job another worker took over stops the same way ("lost-lease").

Deleting a dataset used to leave its job running to the end, which then failed "unexpectedly"
(an error logged for what is a normal event) after profiling a file nobody wanted any more.
"""

import logging
import time

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from catalog.models import Column, DatasetVersion
from profiling import jobs, runner
from profiling.models import ExpectationSuite, ProfileRun, QualityResult
from profiling.tests.factories import credit_csv


@pytest.fixture
def queued_version(data_root, owner, django_capture_on_commit_callbacks):
    """queued_version(dataset) → a version whose profile job is queued and has not run."""

    def make(dataset):
        path = data_root / "credit.csv"
        path.write_text(credit_csv(3_000))
        # Stored, and its job queued as the version_stored receiver does; no message is ever sent
        # (sending one would drain the outbox: the other versions' jobs with it).
        with django_capture_on_commit_callbacks(execute=False):
            version, _ = catalog_versions.add_version_from_uri(
                actor=owner, dataset=dataset, uri=path.as_uri()
            )
            jobs.queue_profile(version=version)
        return version

    return make


def nothing_left(dataset_pk: int) -> None:
    assert not DatasetVersion.objects.filter(dataset_id=dataset_pk).exists()
    assert not ProfileRun.objects.filter(dataset_id=dataset_pk).exists()
    assert not QualityResult.objects.filter(dataset_id=dataset_pk).exists()
    assert not ExpectationSuite.objects.filter(dataset_id=dataset_pk).exists()
    assert not Column.objects.filter(dataset_id=dataset_pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("at", [0.0, runner.PROFILE_SHARE], ids=["while profiling", "while validating"])
def test_deleting_the_dataset_stops_its_running_job(
    dataset, owner, queued_version, monkeypatch, caplog, django_capture_on_commit_callbacks, at
):
    version = queued_version(dataset)
    run = ProfileRun.objects.get(version=version)
    calls: list[float] = []
    deleted: list[float] = []
    report = runner._Progress.__call__

    def progress(self, fraction, *, force=False):
        calls.append(fraction)
        if not deleted and fraction >= at:  # the owner deletes the dataset at this point of the job
            deleted.append(fraction)
            with django_capture_on_commit_callbacks(execute=True):
                catalog_services.delete_dataset(actor=owner, dataset=dataset)
        return report(self, fraction, force=force)

    monkeypatch.setattr(runner._Progress, "__call__", progress)
    with caplog.at_level(logging.INFO, logger="profiling"):
        outcome = runner.execute_profile_run(run_id=run.pk, heartbeat=False)
    assert outcome.state == "gone"
    assert deleted, "the job never reported progress"
    assert calls[-1] == deleted[0], "the job went on after its dataset was deleted"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "stopped: its version was deleted" in caplog.text
    nothing_left(dataset.pk)


@pytest.mark.django_db
def test_a_job_that_fails_because_its_dataset_went_is_not_an_error(dataset, owner, queued_version, caplog):
    """Gone before the job even read its file (the stored file deleted with it): no error logged."""
    version = queued_version(dataset)
    run = ProfileRun.objects.get(version=version)
    claimed, outcome = runner.claim_run(run_id=run.pk, token="tok")
    assert outcome is None
    catalog_services.delete_dataset(actor=owner, dataset=dataset)
    with caplog.at_level(logging.INFO, logger="profiling"):
        gone = runner._handle_failure(FileNotFoundError(2, "No such file"), run_id=run.pk, token="tok")
    assert gone.state == "gone"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


@pytest.mark.django_db
def test_a_job_another_worker_took_over_stops_and_writes_nothing(dataset, queued_version, monkeypatch):
    version = queued_version(dataset)
    run = ProfileRun.objects.get(version=version)
    report = runner._Progress.__call__

    def progress(self, fraction, *, force=False):
        # Meanwhile the lease ran out and another worker claimed the job.
        ProfileRun.objects.filter(pk=run.pk).update(claim_token="another-worker", heartbeat_at=timezone.now())
        return report(self, fraction, force=force)

    monkeypatch.setattr(runner._Progress, "__call__", progress)
    assert runner.execute_profile_run(run_id=run.pk, heartbeat=False).state == "lost-lease"
    run.refresh_from_db()
    assert run.status == "running" and run.claim_token == "another-worker" and run.row_count is None
    assert not QualityResult.objects.filter(version=version).exists()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_notices_a_deleted_run(dataset, owner, queued_version, settings):
    """Between progress writes (a long phase) the heartbeat thread finds the run gone; the job's
    next check stops it."""
    settings.PROFILING_LEASE_SECONDS = 1  # a beat every 0.25 s
    version = queued_version(dataset)
    run = ProfileRun.objects.get(version=version)
    runner.claim_run(run_id=run.pk, token="tok")
    with runner.run_heartbeat(run.pk, "tok") as beat:
        progress = runner._Progress(run.pk, "tok", beat.lost)
        progress.check()  # still ours
        catalog_services.delete_dataset(actor=owner, dataset=dataset)
        waited = 0.0
        while not beat.lost.is_set() and waited < 30:
            time.sleep(0.05)
            waited += 0.05
        assert beat.lost.is_set()
        with pytest.raises(runner.RunStopped) as stopped:
            progress.check()
    assert stopped.value.state == "gone"


@pytest.mark.django_db
def test_a_stopped_job_does_not_stop_the_next_one(dataset, owner, queued_version, monkeypatch):
    """What a job learns about its own run (it is gone) stays with that job."""
    other = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="other")
    first = ProfileRun.objects.get(version=queued_version(dataset))
    second = ProfileRun.objects.get(version=queued_version(other))
    report = runner._Progress.__call__

    def progress(self, fraction, *, force=False):
        if self.run_id == first.pk and ProfileRun.objects.filter(pk=first.pk).exists():
            catalog_services.delete_dataset(actor=owner, dataset=dataset)
        return report(self, fraction, force=force)

    monkeypatch.setattr(runner._Progress, "__call__", progress)
    assert runner.execute_profile_run(run_id=first.pk, heartbeat=False).state == "gone"
    assert runner.execute_profile_run(run_id=second.pk, heartbeat=False).state == "succeeded"
