"""The profile job: queued on commit, pending → running → succeeded | failed, idempotent claims."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import columns as catalog_columns
from catalog import versions as catalog_versions
from catalog.models import Column
from profiling import jobs, results, runner, suites
from profiling.models import ExpectationSuite, ProfileRun, QualityResult
from profiling.tasks import profile_version
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db


def test_a_stored_version_is_profiled_by_itself(dataset, add_version):
    version = add_version(dataset, credit_csv())

    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    assert run.progress == 1.0 and run.attempts == 1
    assert run.started_at <= run.finished_at
    assert run.row_count == 200
    assert [c["name"] for c in run.columns] == [
        "id",
        "age",
        "income",
        "region",
        "gender",
        "email",
        "approved",
    ]
    assert version.profile_status == "succeeded"
    # the first profile proposed a suite, and the profile ran it
    suite = ExpectationSuite.objects.get(dataset=dataset)
    assert suite.origin == "proposed" and suite.expectations
    assert run.quality["success"] is True and run.quality["score"] == 1.0
    assert QualityResult.objects.get(version=version).score == 1.0
    # PII found and written to the catalog's columns
    assert "email" in run.pii["email"]
    assert Column.objects.get(dataset=dataset, name="email").is_pii


def test_schema_write_back_keeps_what_stewards_wrote(dataset, add_version, steward):
    add_version(dataset, credit_csv(50))
    col = Column.objects.get(dataset=dataset, name="income")
    catalog_columns.update_column(actor=steward, column=col, description="Yearly income, EUR", tags=["money"])

    add_version(dataset, credit_csv(60, seed=2).replace(",email,", ",mail,"))

    income = Column.objects.get(dataset=dataset, name="income")
    assert income.description == "Yearly income, EUR" and income.tags == ["money"]
    assert income.type  # the inferred type is set
    assert Column.objects.get(dataset=dataset, name="email").present is False
    assert Column.objects.get(dataset=dataset, name="mail").present is True


def test_a_bad_file_fails_with_a_readable_message(
    dataset, add_version, data_root, owner, django_capture_on_commit_callbacks
):
    # Ingestion refuses unreadable files, but a path registered in place can change afterwards.
    version = add_version(dataset, credit_csv(20))
    import random

    junk = bytes(random.Random(4).randrange(256) for _ in range(3000))
    (data_root / version.original_name).write_bytes(junk)

    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rerun(actor=owner, version=version)

    run = ProfileRun.objects.get(version=version)
    version.refresh_from_db()
    assert run.status == "failed" and run.error
    assert "Traceback" not in run.error and len(run.error) <= 500
    assert run.error.isprintable()
    assert version.profile_status == "failed"
    assert run.row_count is None or run.row_count == 20  # nothing half-written by the failed run


def test_the_file_disappearing_fails_the_job_clearly(dataset, add_version, data_root):
    version = add_version(dataset, credit_csv(20))
    (data_root / version.original_name).unlink()
    catalog_versions.set_version_profile_status(version=version, status="pending")
    run = ProfileRun.objects.get(version=version)
    ProfileRun.objects.filter(pk=run.pk).update(status="pending")

    profile_version.delay(run.pk)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "cannot be read" in run.error or "not" in run.error.lower()


def test_running_the_task_twice_does_the_work_once(dataset, add_version):
    version = add_version(dataset, credit_csv(30))
    run = ProfileRun.objects.get(version=version)
    finished_at = run.finished_at

    assert profile_version.delay(run.pk).get() == "done-before"

    run.refresh_from_db()
    assert run.attempts == 1 and run.finished_at == finished_at


def test_a_redelivered_message_after_a_crash_redoes_the_job_once(dataset, add_version, settings):
    version = add_version(dataset, credit_csv(30))
    run = ProfileRun.objects.get(version=version)
    # A worker claimed the job, then died: running, its lease stale, nothing written.
    stale = timezone.now() - timedelta(seconds=settings.PROFILING_LEASE_SECONDS + 5)
    ProfileRun.objects.filter(pk=run.pk).update(
        status="running", claim_token="dead-worker", heartbeat_at=stale, progress=0.4, row_count=None
    )

    assert profile_version.delay(run.pk).get() == "succeeded"
    assert profile_version.delay(run.pk).get() == "done-before"

    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 2 and run.row_count == 30


def test_a_message_for_a_job_another_worker_holds_waits(dataset, add_version):
    version = add_version(dataset, credit_csv(10))
    run = ProfileRun.objects.get(version=version)
    ProfileRun.objects.filter(pk=run.pk).update(
        status="running", claim_token="alive", heartbeat_at=timezone.now()
    )

    outcome = runner.execute_profile_run(run_id=run.pk, heartbeat=False)

    assert outcome.state == "busy" and outcome.retry_in > 0
    run.refresh_from_db()
    assert run.claim_token == "alive" and run.attempts == 1


def test_a_job_whose_workers_keep_dying_is_given_up(dataset, add_version, settings):
    version = add_version(dataset, credit_csv(10))
    run = ProfileRun.objects.get(version=version)
    stale = timezone.now() - timedelta(seconds=settings.PROFILING_LEASE_SECONDS + 5)
    ProfileRun.objects.filter(pk=run.pk).update(
        status="running", claim_token="x", heartbeat_at=stale, attempts=settings.PROFILING_MAX_ATTEMPTS
    )

    assert runner.execute_profile_run(run_id=run.pk, heartbeat=False).state == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "attempts" in run.error


def test_a_worker_that_lost_its_lease_writes_nothing(dataset, add_version):
    version = add_version(dataset, credit_csv(10))
    run = ProfileRun.objects.get(version=version)
    ProfileRun.objects.filter(pk=run.pk).update(status="running", claim_token="mine", row_count=None)
    # Another worker took the job over meanwhile.
    ProfileRun.objects.filter(pk=run.pk).update(claim_token="theirs")

    computed = results.Computed(
        result=type("R", (), {"row_count": 1})(),
        quality=None,
        proposed=None,
        suite_version=None,
        suite_source=None,
        warnings=[],
    )
    assert results.write_results(run_id=run.pk, token="mine", computed=computed).state == "lost-lease"
    run.refresh_from_db()
    assert run.row_count is None and run.status == "running"


def test_rerun_profiles_again_and_keeps_history(
    dataset, add_version, owner, django_capture_on_commit_callbacks
):
    v1 = add_version(dataset, credit_csv(40))
    v2 = add_version(dataset, credit_csv(40, seed=3))
    run2 = ProfileRun.objects.get(version=v2)
    assert run2.drift is not None and run2.drift["previous_version"] == v1.number
    first_finish = ProfileRun.objects.get(version=v1).finished_at

    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rerun(actor=owner, version=v1)

    run1 = ProfileRun.objects.get(version=v1)
    assert run1.status == "succeeded" and run1.attempts == 1 and run1.finished_at > first_finish
    assert QualityResult.objects.filter(dataset=dataset).count() == 2


def test_stale_jobs_are_queued_again_by_the_sweep(
    dataset, add_version, settings, django_capture_on_commit_callbacks
):
    from profiling.tasks import requeue_stale_runs

    lost = add_version(dataset, credit_csv(10))
    fresh = add_version(dataset, credit_csv(10, seed=4))
    stale = timezone.now() - timedelta(seconds=settings.PROFILING_LEASE_SECONDS + 5)
    # The worker of `lost` died with its message (embedded broker); `fresh` is held by a live worker.
    ProfileRun.objects.filter(version=lost).update(status="running", claim_token="dead", heartbeat_at=stale)
    ProfileRun.objects.filter(version=fresh).update(
        status="running", claim_token="alive", heartbeat_at=timezone.now()
    )

    # The message goes through the outbox, sent once the sweep's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_runs.delay().get() == 1

    assert ProfileRun.objects.get(version=lost).status == "succeeded"
    assert ProfileRun.objects.get(version=lost).attempts == 2
    assert ProfileRun.objects.get(version=fresh).claim_token == "alive"


def _claimed(dataset, add_version, token="tok"):
    version = add_version(dataset, credit_csv(10))
    run = ProfileRun.objects.get(version=version)
    ProfileRun.objects.filter(pk=run.pk).update(
        status="running", claim_token=token, heartbeat_at=timezone.now()
    )
    return run


def test_a_database_error_gives_the_job_back_for_a_retry(dataset, add_version):
    from django.db import OperationalError

    run = _claimed(dataset, add_version)
    with pytest.raises(runner.TransientProfileError):
        runner._handle_failure(OperationalError("server closed the connection"), run_id=run.pk, token="tok")
    run.refresh_from_db()
    assert run.status == "pending" and run.claim_token == ""


def test_a_storage_io_error_is_transient_but_a_missing_file_is_not(dataset, add_version):
    run = _claimed(dataset, add_version)
    with pytest.raises(runner.TransientProfileError):
        runner._handle_failure(OSError(5, "Input/output error"), run_id=run.pk, token="tok")

    ProfileRun.objects.filter(pk=run.pk).update(status="running", claim_token="tok")
    assert (
        runner._handle_failure(FileNotFoundError(2, "No such file"), run_id=run.pk, token="tok").state
        == "failed"
    )
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "The version's file cannot be read: No such file."


def test_the_soft_time_limit_fails_the_job_with_the_limit(dataset, add_version, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    run = _claimed(dataset, add_version)
    runner._handle_failure(SoftTimeLimitExceeded(), run_id=run.pk, token="tok")
    run.refresh_from_db()
    assert run.status == "failed" and f"({settings.PROFILING_SOFT_TIME_LIMIT} s)" in run.error


def test_an_unexpected_error_is_one_readable_line(dataset, add_version):
    run = _claimed(dataset, add_version)
    runner._handle_failure(KeyError("weird\nsecond line"), run_id=run.pk, token="tok")
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("Profiling failed unexpectedly (KeyError:") and "\n" not in run.error


def test_progress_is_written_at_most_twice_a_second(dataset, add_version):
    run = _claimed(dataset, add_version)
    progress = runner._Progress(run.pk, "tok")
    progress(0.1)
    progress(0.2)  # within the interval: not written
    run.refresh_from_db()
    assert run.progress == 0.1
    progress(0.3, force=True)
    run.refresh_from_db()
    assert run.progress == 0.3
    with pytest.raises(runner.RunStopped) as stopped:  # not the holder of the job: not written, stop
        runner._Progress(run.pk, "someone-else")(0.9)
    assert stopped.value.state == "lost-lease"
    run.refresh_from_db()
    assert run.progress == 0.3


def test_failing_values_of_pii_columns_are_not_shown(dataset, add_version, owner):
    suites.save_suite(
        actor=owner,
        dataset=dataset,
        expectations=[
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "email", "regex": "^nobody$"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "region", "value_set": ["north"]},
            },
        ],
    )
    version = add_version(dataset, credit_csv(30))
    email, region = ProfileRun.objects.get(version=version).quality["results"]
    assert email["success"] is False and email["observed"]["unexpected_count"] == 30
    assert email["observed"]["partial_unexpected_list"] == [] and email["observed"]["redacted"]
    assert region["observed"]["partial_unexpected_list"]  # not PII: shown


@pytest.mark.parametrize(
    "content",
    [
        "a,b,c,d\n1,,x,inf\n",  # one row, an empty column, an infinity
        "a,b\n1,2\n1,2\n1,2\n",  # constant columns (std 0, one distinct value)
        "a,b\n",  # a header and no rows
        "a,b\n-inf,nan\n1e308,NaN\n",  # values JSON cannot hold as numbers
    ],
)
def test_edge_data_is_profiled_sensibly(dataset, add_version, content):
    version = add_version(dataset, content)
    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    assert run.quality is not None


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "tsv.gz"])
def test_every_accepted_format_is_profiled(dataset, add_version, kind):
    import gzip
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(credit_csv(25)))
    if kind == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf)
        content = buf.getvalue()
    elif kind == "jsonl":
        content = df.to_json(orient="records", lines=True)
    else:
        content = gzip.compress(df.to_csv(sep="\t", index=False).encode())
    version = add_version(dataset, content, filename=f"data.{kind}")
    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    assert run.row_count == 25 and run.quality["success"] is True


def test_the_hard_time_limit_fails_the_run_from_the_workers_main_process(dataset, add_version, settings):
    from celery.exceptions import TimeLimitExceeded

    from profiling.tasks import fail_on_hard_time_limit

    run = _claimed(dataset, add_version)
    fail_on_hard_time_limit(exception=ValueError("not a time limit"), args=[run.pk])
    run.refresh_from_db()
    assert run.status == "running"

    fail_on_hard_time_limit(exception=TimeLimitExceeded(settings.PROFILING_TIME_LIMIT), args=[run.pk])
    run.refresh_from_db()
    assert run.status == "failed" and "hard time limit" in run.error


@pytest.mark.parametrize(
    "text",
    [
        "x,y\n1,1e308\n2,-1e308\n3,1e308\n",  # the mean and deviation overflow
        "x,y\n1,inf\n2,-inf\n3,nan\n4,1e308\n5,-1e308\n",
    ],
)
def test_numbers_at_the_edge_of_a_float_are_profiled_not_an_error(dataset, add_version, text):
    """QA G1: statistics past a 64-bit float's range were written as inf into JSON, and the job failed
    with the database's IntegrityError. They are left empty, and the column says why."""
    version = add_version(dataset, text)
    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    y = next(c for c in run.columns if c["name"] == "y")
    # PostgreSQL's jsonb keeps 1e308 as an exact decimal: compare as floats.
    assert float(y["min"]) == -1e308 and float(y["max"]) == 1e308
    assert any("exceed the range of a 64-bit float" in w for w in run.warnings)


def test_infinite_cells_are_counted(dataset, add_version):
    version = add_version(dataset, "x,y\n1,inf\n2,3\n3,4\n")
    run = ProfileRun.objects.get(version=version)
    y = next(c for c in run.columns if c["name"] == "y")
    assert y["non_finite_count"] == 1 and y["null_count"] == 0 and y["mean"] == 3.5
    assert any("1 NaN or infinite values" in w for w in run.warnings)
