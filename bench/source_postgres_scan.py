"""Discovery of a PostgreSQL source (issue 13): ``PostgresConnector.discover()`` over a database of
500 tables (tests/pg_source.py: 3 schemas, views, a partitioned table...), a first and a second time,
beside two baselines run in the same script on the same database:

- ``information_schema.columns``: ``SELECT count(*)`` of the columns of every table, the plain
  catalog query any tool starts with;
- ``\\d``-like listing: what psql runs for ``\\dt *.*`` plus, per table, the column query of
  ``\\d table`` (one query per table, as psql does), i.e. the naive way to describe every table.

    .venv/bin/python bench/source_postgres_scan.py [--tables 500] [--repeat 5] [--keep]

Targets (issue 13): a first scan of 500 tables <= 30 s, a second with nothing changed <= 5 s. The
scan (catalog.scans) adds the database writes; ``time_discover(source)`` is the piece to reuse for it.
Needs PostgreSQL at $GOUVERNAIL_PG_ADMIN_URL (default postgres@127.0.0.1:5432, trust).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

LIST_TABLES = """
SELECT n.nspname, c.relname, c.oid FROM pg_catalog.pg_class c
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1, 2
"""
DESCRIBE_TABLE = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
        WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
       a.attnotnull, pg_catalog.col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""


def time_discover(source) -> tuple[float, int, int]:
    """(seconds, datasets found, problems) for one full ``discover()`` of ``source``, connection
    included, as a scan calls it."""
    from catalog.connectors.base import Found
    from catalog.connectors.postgres import PostgresConnector

    t0 = time.perf_counter()
    results = list(PostgresConnector(source).discover())
    seconds = time.perf_counter() - t0
    found = sum(isinstance(r, Found) for r in results)
    return seconds, found, len(results) - found


def time_information_schema(dsn: str) -> float:
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    return time.perf_counter() - t0


def time_describe_each(dsn: str) -> float:
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for _, _, oid in conn.execute(LIST_TABLES).fetchall():
            conn.execute(DESCRIBE_TABLE, (oid,)).fetchall()
    return time.perf_counter() - t0


def median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()

    import django

    django.setup()
    from catalog.models import Source
    from tests.pg_source import make_source_database

    t0 = time.perf_counter()
    db = make_source_database(n_tables=args.tables, schemas=3)
    print(f"database {db.name}: {len(db.datasets)} datasets made in {time.perf_counter() - t0:.1f} s")
    try:
        source = Source(name="bench", kind="postgres", uri=db.uri)
        first, found, problems = time_discover(source)
        second = median(lambda: time_discover(source)[0], args.repeat)
        info = median(lambda: time_information_schema(db.dsn()), args.repeat)
        describe = median(lambda: time_describe_each(db.dsn()), args.repeat)
        load = os.getloadavg()
        print(f"found {found} datasets, {problems} problems")
        print(f"discover(), first:                   {first * 1000:8.1f} ms")
        print(f"discover(), again (median of {args.repeat}):     {second * 1000:8.1f} ms")
        print(f"information_schema.columns count(*): {info * 1000:8.1f} ms")
        print(f"\\d of every table (one query each):  {describe * 1000:8.1f} ms")
        print(f"ratio discover / information_schema: {second / info:.2f}")
        print(f"ratio discover / \\d of every table:  {second / describe:.2f}")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    finally:
        if not args.keep:
            db.drop()


if __name__ == "__main__":
    main()
