"""A worker SIGKILLed while it reads one part of a version profiled in parts: the part is redone by
the next worker, the merge runs once, and the merged profile is the one pass's.

Works on both brokers: the sweep (what beat runs every PROFILING_SWEEP_SECONDS) queues the dead
part again once its lease has run out; with Redis the broker's redelivery may get there first, and
the part's claim makes the second message a no-op.
"""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import jobs
from profiling.engine import profile_file
from profiling.models import PartStatus, ProfilePart, ProfileRun, QualityResult

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 2_400_000
ROW_GROUP = 200_000
WORKER_ENV = {
    # Parts of a few MB (one or two row groups each), leases short enough for a test.
    "PROFILING_PART_BYTES": str(4 * 1024 * 1024),
    "PROFILING_LEASE_SECONDS": "3",
    "PROFILING_SWEEP_SECONDS": "0",
    "CELERY_VISIBILITY_TIMEOUT": "5",
}


def _parquet(path) -> None:
    rng = np.random.default_rng(14)
    ages = rng.integers(18, 90, ROWS).astype("float64")
    ages[rng.random(ROWS) < 0.05] = np.nan
    table = pa.table(
        {
            "id": np.arange(ROWS),
            "age": pa.array(ages, from_pandas=True),
            "amount": rng.normal(100, 15, ROWS).round(2),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "label": rng.integers(0, 2, ROWS),
        }
    )
    pq.write_table(table, path, row_group_size=ROW_GROUP)


def _running_part(run_qs):
    return ProfilePart.objects.filter(run__in=run_qs, status=PartStatus.RUNNING).first()


def test_a_worker_killed_during_a_part_leaves_it_to_the_next_one(data_root, owner, live_worker_factory):
    path = data_root / "parts.parquet"
    _parquet(path)
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="parts")

    first = live_worker_factory(extra_env=WORKER_ENV)
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    run_qs = ProfileRun.objects.filter(version=version)
    # Killed while a part is being read (claimed: running, under its lease).
    first.wait_until(lambda: _running_part(run_qs), timeout=180, interval=0.05)
    first.kill()

    killed = ProfilePart.objects.filter(run__in=run_qs, status=PartStatus.RUNNING).first()
    assert killed is not None, "the part finished before the kill: make the parts bigger"
    assert killed.attempts == 1
    parts_count = ProfilePart.objects.filter(run__in=run_qs).count()
    assert parts_count > 2
    assert run_qs.get().status == "running"

    second = live_worker_factory(extra_env=WORKER_ENV)
    with override_settings(PROFILING_LEASE_SECONDS=3):
        # What beat does, from the test on the test's queue, once the dead part's lease ran out.
        second.wait_until(
            lambda: jobs.requeue_stale_runs() is not None and _redone_or_done(run_qs, killed.pk),
            timeout=120,
            interval=1,
        )
    second.wait_until(lambda: run_qs.filter(status__in=["succeeded", "failed"]).exists(), timeout=300)

    run = run_qs.get()
    assert run.status == "succeeded", run.error
    assert run.method["parts"] == parts_count
    redone = ProfilePart.objects.get(pk=killed.pk)
    assert redone.status == PartStatus.SUCCEEDED and redone.attempts == 2
    assert QualityResult.objects.filter(version=version).count() == 1  # the merge ran once

    one = profile_file(str(path), format="parquet")
    assert run.row_count == one.row_count == ROWS
    for merged, single in zip(run.columns, one.columns, strict=True):
        assert merged["name"] == single["name"]
        assert merged.get("null_count") == single.get("null_count"), merged["name"]
        assert merged.get("distinct_count") == single.get("distinct_count"), merged["name"]
        assert merged.get("top_values") == single.get("top_values"), merged["name"]
        for key in ("mean", "std", "min", "max"):
            if isinstance(single.get(key), float):
                assert math.isclose(merged[key], single[key], rel_tol=1e-9, abs_tol=1e-9), (
                    merged["name"],
                    key,
                )


def _redone_or_done(run_qs, part_id: int) -> bool:
    part = ProfilePart.objects.get(pk=part_id)
    return part.attempts >= 2 or run_qs.filter(status__in=["succeeded", "failed"]).exists()
