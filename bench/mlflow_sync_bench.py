"""MLflow sync of 1,000 registered model versions (issue 16), as governance.mlflow_sync runs it: each
version's run read, its dataset inputs matched, the version registered with its clearance, and two
tags written back (first sync); then the same sync with nothing new, which must write no row here and
no tag in MLflow. Beside it, in the same run, its floor: listing the versions and reading every run
through MLflow's client alone (what any sync must at least do the first time).

    .venv/bin/python bench/mlflow_sync_bench.py [--versions 1000]

Targets: first sync <= 60 s; second sync writes 0 rows (and 0 tags).
The catalog runs on PostgreSQL (a fresh database, h_mlflow); MLflow is a real store its own client
writes (an SQLite file in a temporary folder). 9 in 10 runs read one of 10 catalogued datasets (by
their s3:// location), 1 in 10 reads data the catalog does not know (unknown data).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CATALOG_DB = os.environ.get("BENCH_CATALOG_DB", "h_mlflow")
ADMIN = os.environ.get("GOUVERNAIL_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
DATASETS = 10


def fresh_catalog(data_root: Path) -> None:
    import psycopg

    with psycopg.connect(f"{ADMIN}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{CATALOG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{CATALOG_DB}"')
    os.environ.update(
        DATABASE_URL=f"{ADMIN}/{CATALOG_DB}",
        DJANGO_SETTINGS_MODULE="config.settings",
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="0",
        OUTBOX_SEND_AFTER_COMMIT="0",
        LOG_LEVEL="WARNING",
        DATA_ROOTS=str(data_root),
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def catalogue(data_root: Path, owner) -> None:
    """10 internal datasets in s3://lake, a version each (registered by path)."""
    from catalog import services, versions

    for i in range(DATASETS):
        ds = services.create_dataset(actor=owner, namespace="s3://lake", name=f"train/part-{i}.csv")
        path = data_root / f"part-{i}.csv"
        path.write_text("age,approved\n" + "".join(f"{20 + (j + i) % 50},{j % 2}\n" for j in range(50)))
        versions.add_version_from_uri(actor=owner, dataset=ds, uri=path.as_uri())


def fill_mlflow(uri: str, n: int) -> float:
    """n runs with a dataset input each, each registered as a version (100 models) → seconds."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, InputTag

    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("bench")
    # MLflow keeps one dataset per experiment, name and digest: different data for each location.
    entities = []
    for i in range(DATASETS + 1):
        df = pd.DataFrame(
            {"age": [20 + (j + i) % 50 for j in range(50)], "approved": [j % 2 for j in range(50)]}
        )
        source = f"s3://lake/train/part-{i}.csv" if i < DATASETS else "s3://elsewhere/scraped.csv"
        ds = mlflow.data.from_pandas(df, source=source, name=f"part-{i}")
        entities.append(DatasetInput(ds._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")]))
    for m in range(100):
        client.create_registered_model(f"model-{m:03d}")
    for k in range(n):
        run = client.create_run(exp)
        client.log_inputs(run.info.run_id, datasets=[entities[k % (DATASETS + 1)]])
        client.create_model_version(f"model-{k % 100:03d}", source="s3://models/x", run_id=run.info.run_id)
    return time.perf_counter() - t0


def floor(uri: str) -> float:
    """Listing every version and reading every run through MLflow's client alone."""
    from governance import mlflow_sync

    t0 = time.perf_counter()
    client = mlflow_sync.client_for(uri)
    for v in mlflow_sync.all_versions(client):
        client.get_run(v.run_id)
    return time.perf_counter() - t0


def row_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
        return dict(cur.fetchall())


def tag_stamps(uri: str) -> dict:
    from governance import mlflow_sync

    versions = mlflow_sync.all_versions(mlflow_sync.client_for(uri))
    return {(v.name, v.version): (v.last_updated_timestamp, tuple(sorted(v.tags.items()))) for v in versions}


def timed_sync(uri: str):
    from governance import mlflow_sync

    t0 = time.perf_counter()
    counts = mlflow_sync.sync(uri=uri)
    return time.perf_counter() - t0, counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "data").mkdir()
        fresh_catalog(tmp_path / "data")
        from django.contrib.auth import get_user_model

        owner, _ = get_user_model().objects.get_or_create(username="bench")
        catalogue(tmp_path / "data", owner)
        uri = f"sqlite:///{tmp_path}/mlflow.db"
        filled = fill_mlflow(uri, args.versions)
        base = floor(uri)
        first, c1 = timed_sync(uri)
        before_rows, before_tags = row_counts(), tag_stamps(uri)
        second, c2 = timed_sync(uri)
        time.sleep(0.2)
        after_rows, after_tags = row_counts(), tag_stamps(uri)
        written = {k: v - before_rows.get(k, 0) for k, v in after_rows.items() if v != before_rows.get(k, 0)}
        tags_changed = sum(1 for k, v in after_tags.items() if before_tags.get(k) != v)
        load = os.getloadavg()
        print(f"MLflow store filled with {args.versions} model versions in {filled:.1f} s")
        print(f"floor (list + get_run each, MLflow's client alone): {base:7.2f} s")
        print(
            f"first sync:  {first:7.2f} s  ({first / base:5.1f}x the floor; target 60 s: {first / 60:.2f} of it)  "
            f"created={c1.created} unknown_inputs={c1.unknown_inputs} errors={len(c1.errors)}"
        )
        print(
            f"second sync: {second:7.2f} s  ({second / first:.3f} of the first)  unchanged={c2.unchanged} "
            f"created={c2.created} updated={c2.updated}"
        )
        print(
            f"rows written by the second sync: {sum(written.values())} {written}; MLflow versions changed: {tags_changed}"
        )
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
