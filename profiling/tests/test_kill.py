"""A worker SIGKILLed in the middle of a profile job: the next worker does the job, exactly once.

Needs a broker that redelivers unacknowledged messages (Redis: after ``visibility_timeout``). Run:
``CELERY_BROKER_URL=redis://127.0.0.1:6379/2 .venv/bin/pytest -m integration profiling/tests/test_kill.py``
"""

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.test import override_settings

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling.models import ProfileRun, QualityResult

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 5
ROWS = 3_000_000  # big enough that profiling and validation take a few seconds


def _big_parquet(path) -> None:
    rng = np.random.default_rng(3)
    pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "amount": rng.normal(100, 15, ROWS).round(2),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "score": rng.integers(0, 1000, ROWS),
            "flag": rng.integers(0, 2, ROWS),
        }
    ).to_parquet(path)


def test_a_killed_worker_leaves_the_job_to_the_next_one(data_root, owner, live_worker_factory):
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        pytest.skip(
            "redelivery after SIGKILL needs a broker with a visibility timeout (set CELERY_BROKER_URL=redis://...)"
        )
    worker_env = {
        # Redeliver an unacknowledged message 5 s after it was handed out; treat a job without a
        # heartbeat for 3 s as abandoned. Production keeps the defaults (1 h, 120 s).
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "PROFILING_LEASE_SECONDS": "3",
        # No start-up sweep: this test proves the broker's redelivery (acks_late), not the sweep.
        "PROFILING_SWEEP_SECONDS": "0",
    }
    path = data_root / "big.parquet"
    _big_parquet(path)
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="big")

    first = live_worker_factory(extra_env=worker_env)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run_qs = ProfileRun.objects.filter(version=version)
    # Killed mid-run: once the job has reported some progress (it is written while it runs).
    first.wait_until(lambda: run_qs.filter(progress__gt=0).exists(), timeout=120)
    first.kill()

    killed = run_qs.get()
    assert 0 < killed.progress < 1
    assert killed.status == "running" and killed.attempts == 1, (
        "the job finished before the kill: make the file bigger"
    )
    assert killed.row_count is None and not QualityResult.objects.filter(version=version).exists()

    # kombu's Redis transport hands unacknowledged messages back when a worker scans for them: at
    # start-up, then every ~100 s. Let the visibility timeout pass first, so that the next worker's
    # start-up scan finds the killed worker's message (a wait for a state, not a timing assertion).
    time.sleep(VISIBILITY_TIMEOUT + 1)
    second = live_worker_factory(extra_env=worker_env)
    second.wait_until(lambda: run_qs.filter(status__in=["succeeded", "failed"]).exists(), timeout=240)

    run = run_qs.get()
    assert run.status == "succeeded", run.error
    assert run.attempts == 2  # once by the killed worker, once by the next: not lost, not twice
    assert run.row_count == ROWS
    assert QualityResult.objects.filter(version=version).count() == 1
    version.refresh_from_db()
    assert version.profile_status == "succeeded"
    # The second worker ran the job to completion once (its return value is logged once). The task
    # returns, and logs it, only after the results' commit and its after-commit hooks: wait for it.
    second.wait_until(lambda: "'succeeded'" in second.log(), timeout=60)
    assert second.log().count("'succeeded'") == 1, second.log()[-3000:]


def test_on_the_embedded_broker_the_sweep_rescues_a_killed_workers_job(data_root, owner, live_worker_factory):
    """The embedded broker (filesystem://) loses a message when the whole worker dies; the sweep
    (beat, and every starting worker) queues the job again and the next worker does it once."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("this test is about the embedded broker")
    from profiling import jobs

    worker_env = {"PROFILING_LEASE_SECONDS": "3", "PROFILING_SWEEP_SECONDS": "0"}
    path = data_root / "big.parquet"
    _big_parquet(path)
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="big")

    first = live_worker_factory(extra_env=worker_env)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run_qs = ProfileRun.objects.filter(version=version)
    first.wait_until(lambda: run_qs.filter(status="running").exists(), timeout=120)
    first.kill()
    assert run_qs.get().status == "running", "the job finished before the kill: make the file bigger"

    second = live_worker_factory(extra_env=worker_env)
    with override_settings(PROFILING_LEASE_SECONDS=3):
        # What beat does every PROFILING_SWEEP_SECONDS (here from the test, on the test's queue),
        # once the dead worker's lease has run out.
        second.wait_until(lambda: jobs.requeue_stale_runs(), timeout=60, interval=1)
    second.wait_until(lambda: run_qs.filter(status__in=["succeeded", "failed"]).exists(), timeout=240)

    run = run_qs.get()
    assert run.status == "succeeded", run.error
    assert run.attempts == 2 and run.row_count == ROWS
    assert QualityResult.objects.filter(version=version).count() == 1


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                out.append(int(entry))
    return out


def test_a_killed_pool_process_leaves_the_job_to_the_worker(data_root, owner, live_worker_factory):
    """The OOM killer takes the pool process, not the worker: reject_on_worker_lost requeues the
    message at once; the redelivery waits for the dead process's lease, then redoes the job once."""
    worker_env = {"PROFILING_LEASE_SECONDS": "3", "PROFILING_SWEEP_SECONDS": "0"}
    path = data_root / "big.parquet"
    _big_parquet(path)
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="big")

    worker = live_worker_factory(extra_env=worker_env, pool="prefork", concurrency=1)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run_qs = ProfileRun.objects.filter(version=version)
    worker.wait_until(lambda: run_qs.filter(progress__gt=0).exists(), timeout=120)
    for pid in _children(worker.process.pid):
        os.kill(pid, signal.SIGKILL)
    assert run_qs.get().status == "running", "the job finished before the kill: make the file bigger"

    worker.wait_until(lambda: run_qs.filter(status__in=["succeeded", "failed"]).exists(), timeout=240)
    run = run_qs.get()
    assert run.status == "succeeded", run.error
    assert run.attempts == 2 and run.row_count == ROWS
    assert QualityResult.objects.filter(version=version).count() == 1
