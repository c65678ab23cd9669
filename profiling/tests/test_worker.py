"""A real worker: a job that fails on bad data ends failed with a message, and the worker goes on."""

import random

import pytest

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import jobs
from profiling.models import ProfileRun
from profiling.tests.factories import credit_csv

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_bad_data_fails_its_job_and_the_worker_goes_on(data_root, owner, live_worker):
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="mixed")
    path = data_root / "v1.csv"
    path.write_text(credit_csv(30))
    v1, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    live_worker.wait_until(lambda: ProfileRun.objects.filter(version=v1, status="succeeded").exists())

    # The registered file is overwritten with garbage, then profiled again: that job fails...
    path.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(5000)))
    jobs.request_rerun(actor=owner, version=v1)
    # ...and a good version queued right behind it is profiled by the same worker.
    good = data_root / "v2.csv"
    good.write_text(credit_csv(40, seed=2))
    v2, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=good.as_uri())

    live_worker.wait_until(lambda: ProfileRun.objects.filter(version=v2, status="succeeded").exists())
    live_worker.wait_until(
        lambda: ProfileRun.objects.filter(version=v1, status__in=["failed", "succeeded"]).exists()
    )
    failed = ProfileRun.objects.get(version=v1)
    assert failed.status == "failed" and failed.error and "Traceback" not in failed.error
    assert ProfileRun.objects.get(version=v2).row_count == 40
    assert live_worker.alive


def test_the_time_limit_fails_the_job_and_the_worker_goes_on(data_root, owner, live_worker_factory, settings):
    import numpy as np
    import pandas as pd

    worker = live_worker_factory(extra_env={"PROFILING_SWEEP_SECONDS": "0"})
    # A first small job loads the engine and GX in the pool process, so that the limit below
    # stops profiling, not an import (a limit far below a worker's start-up time is not realistic).
    warm_up = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="warm-up")
    small = data_root / "small.csv"
    small.write_text(credit_csv(20))
    first, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=warm_up, uri=small.as_uri())
    worker.wait_until(lambda: ProfileRun.objects.filter(version=first, status="succeeded").exists())
    # The limits travel in the message, set by the sender (here the test) from its settings.
    settings.PROFILING_SOFT_TIME_LIMIT, settings.PROFILING_TIME_LIMIT = 0.2, 60
    rows = 3_000_000
    rng = np.random.default_rng(1)
    path = data_root / "slow.parquet"
    pd.DataFrame({"x": rng.normal(size=rows), "k": rng.integers(0, 10**9, rows)}).to_parquet(path)
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="slow")
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())

    worker.wait_until(
        lambda: ProfileRun.objects.filter(version=version, status__in=["failed", "succeeded"]).exists()
    )
    run = ProfileRun.objects.get(version=version)
    if run.status == "succeeded":
        pytest.skip("this machine profiled the file within 0.2 s; nothing to stop")
    assert run.error == "Profiling took longer than the time limit (0.2 s) and was stopped."
    version.refresh_from_db()
    assert version.profile_status == "failed"
    assert worker.alive
