"""A whole scan of a PostgreSQL source of 500 tables (issue 13), as catalog.scans runs it: discovery,
then a dataset, a version by reference, its columns and a queued profile job for each table (first
scan), then the same scan with nothing changed, which must write no dataset, version or audit row.
Beside it in the same run, its floor: ``discover()`` alone (bench/source_postgres_scan.py).

    .venv/bin/python bench/source_scan_bench.py [--tables 500]

Targets: first scan <= 30 s; second scan <= 5 s and zero rows written outside the scan's own row.
The catalog runs on PostgreSQL (a fresh database, gv_scan_bench); profile jobs are queued to an
in-memory broker and not run (profiling is measured by bench/profile_in_place.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CATALOG_DB = "gv_scan_bench"
ADMIN = os.environ.get("GOUVERNAIL_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432")


def fresh_catalog() -> None:
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
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def row_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            "WHERE relname NOT IN ('catalog_sourcescan', 'catalog_outboxmessage')"
        )
        return dict(cur.fetchall())


def flush_stats() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")


def timed_scan(source) -> tuple[float, object]:
    from catalog import scans

    scan = scans.request_scan(actor=None, source=source)
    t0 = time.perf_counter()
    scans.run_scan(scan.pk)
    seconds = time.perf_counter() - t0
    scan.refresh_from_db()
    return seconds, scan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=500)
    args = parser.parse_args()
    fresh_catalog()
    from django.contrib.auth import get_user_model

    from bench.source_postgres_scan import time_discover
    from catalog.models import DatasetVersion
    from catalog.sources import create_source
    from tests.pg_source import make_source_database

    db = make_source_database(n_tables=args.tables, schemas=3)
    try:
        admin, _ = get_user_model().objects.get_or_create(username="bench", is_staff=True)
        source = create_source(actor=admin, name="bench", kind="postgres", uri=db.uri)
        floor, found, _ = time_discover(source)
        first, scan1 = timed_scan(source)
        flush_stats()
        before = row_counts()
        second, scan2 = timed_scan(source)
        flush_stats()
        time.sleep(0.2)
        after = row_counts()
        written = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        load = os.getloadavg()
        print(f"source: {found} datasets; catalog versions now {DatasetVersion.objects.count()}")
        print(f"discover() alone (floor):  {floor:7.2f} s")
        print(
            f"first scan:   {first:7.2f} s  ({first / floor:6.1f}x discover; target 30 s: "
            f"{first / 30:.2f} of it)  registered={scan1.registered} errors={len(scan1.errors)}"
        )
        print(
            f"second scan:  {second:7.2f} s  ({second / floor:6.1f}x discover; target 5 s: "
            f"{second / 5:.2f} of it)  unchanged={scan2.unchanged} changed={scan2.changed}"
        )
        print(
            f"rows written by the second scan (besides its own scan row): {sum(written.values())} {written}"
        )
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    finally:
        db.drop()


if __name__ == "__main__":
    main()
