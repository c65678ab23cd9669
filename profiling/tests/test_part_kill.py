"""A worker SIGKILLed while it profiles one part of a version profiled in parts: the part is
redone by the next worker (its lease ran out; the start-up sweep sends it again), the other parts
are not, and the merge runs once. Works with the embedded broker and Redis alike."""

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling.models import ProfilePart, ProfileRun, QualityResult

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 2_000_000
LEASE = 3


def _big_parquet(path) -> None:
    rng = np.random.default_rng(5)
    table = pa.table(
        {
            "id": np.arange(ROWS),
            "amount": rng.normal(100, 15, ROWS).round(2),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "score": rng.integers(0, 1000, ROWS),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)


def test_a_killed_part_is_redone_and_merged_once(data_root, owner, live_worker_factory):
    path = data_root / "big.parquet"
    _big_parquet(path)
    worker_env = {
        "PROFILING_PART_BYTES": str(path.stat().st_size // 5),
        "PROFILING_LEASE_SECONDS": str(LEASE),
        "PROFILING_SWEEP_SECONDS": "60",  # the start-up sweep re-sends the killed part
        "CELERY_VISIBILITY_TIMEOUT": "3600",  # Redis: no redelivery before the sweep's
    }
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="big-parts")

    first = live_worker_factory(extra_env=worker_env)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run_qs = ProfileRun.objects.filter(version=version)
    parts = ProfilePart.objects.filter(run__version=version)
    # Killed while a part runs, after another one finished.
    first.wait_until(
        lambda: (
            parts.filter(status="succeeded").exists()
            and parts.filter(status="running", heartbeat_at__isnull=False).exists()
        ),
        timeout=180,
    )
    first.kill()
    killed = run_qs.get()
    assert killed.status == "running" and killed.row_count is None, "finished before the kill"
    assert not QualityResult.objects.filter(version=version).exists()
    done_before = set(parts.filter(status="succeeded").values_list("index", flat=True))
    total = parts.count()
    assert 1 < total and len(done_before) < total

    time.sleep(LEASE + 1)  # the killed part's lease runs out (a wait for a state, not an assertion)
    second = live_worker_factory(extra_env=worker_env)
    second.wait_until(lambda: run_qs.filter(status__in=["succeeded", "failed"]).exists(), timeout=300)

    run = run_qs.get()
    assert run.status == "succeeded", run.error
    assert run.row_count == ROWS and run.progress == 1.0
    assert run.attempts == 1  # the run itself was claimed once: its parts were redone, not it
    attempts = dict(parts.values_list("index", "attempts"))
    assert set(parts.values_list("status", flat=True)) == {"succeeded"}
    assert all(attempts[i] == 1 for i in done_before)
    assert sorted(attempts.values()).count(2) == 1  # the killed part, redone once
    assert QualityResult.objects.filter(version=version).count() == 1
