"""Two deliveries of one job racing for it: the row lock lets exactly one claim it.

Runs on SQLite (writers serialised by IMMEDIATE transactions) and on PostgreSQL (SELECT ... FOR
UPDATE): ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_prof .venv/bin/pytest profiling/tests/test_concurrency.py``.
"""

import threading

import pytest
from django.db import connection

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import jobs, results, runner
from profiling.models import ProfileRun
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_deliveries_claim_a_job_once(owner, data_root):
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="race")
    path = data_root / "race.csv"
    path.write_text(credit_csv(10))
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run = ProfileRun.objects.get(version=version)
    results: list[bool] = []

    for _round in range(5):
        ProfileRun.objects.filter(pk=run.pk).update(status="pending", claim_token="", attempts=0)
        results.clear()
        barrier = threading.Barrier(2)

        def deliver(token: str) -> None:
            try:
                barrier.wait()
                claimed, _outcome = jobs.claim_run(run_id=run.pk, token=token)
                results.append(claimed is not None)
            finally:
                connection.close()

        threads = [threading.Thread(target=deliver, args=(f"worker-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        assert sorted(results) == [False, True]
        run.refresh_from_db()
        assert run.status == "running" and run.attempts == 1 and run.claim_token.startswith("worker-")


def test_two_versions_finishing_at_once_still_get_their_drift(owner, data_root):
    """Both jobs write under the dataset's lock: whichever commits second sees the other (QA F2)."""
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="race-drift")
    versions = []
    for number, rows in ((1, 120), (2, 60)):
        path = data_root / f"race-drift-{number}.csv"
        path.write_text(credit_csv(rows, seed=number))
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
        versions.append(version)

    for _round in range(3):
        computed = {}
        runs = [ProfileRun.objects.get(version=v) for v in versions]
        for run in runs:
            ProfileRun.objects.filter(pk=run.pk).update(
                status="pending", claim_token="", attempts=0, drift=None
            )
            claimed, _ = jobs.claim_run(run_id=run.pk, token=f"t{run.pk}")
            computed[run.pk] = runner._compute(claimed, runner._Progress(run.pk, f"t{run.pk}"))
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def finish(run_id: int) -> None:
            try:
                barrier.wait()
                outcomes.append(
                    results.write_results(run_id=run_id, token=f"t{run_id}", computed=computed[run_id]).state
                )
            finally:
                connection.close()

        threads = [threading.Thread(target=finish, args=(r.pk,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        assert outcomes == ["succeeded", "succeeded"]
        second = ProfileRun.objects.get(version=versions[1])
        assert second.drift is not None and second.drift["previous_version"] == 1
