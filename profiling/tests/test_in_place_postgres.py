"""PostgreSQL tables profiled in place (ADBC, Arrow batches) by the real job: the same rows give the
same profile as a file on disk; TABLESAMPLE when the source asks for it, stated on the profile;
types the driver has no Arrow type for are read as text; a dropped table fails clearly.

The source is a database created for the test on the test server, and dropped afterwards."""

import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings

from catalog.models import Source
from profiling.engine import profile_file
from profiling.locations import location_of
from profiling.tests.test_in_place import people, profiled, reference_version, summary

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _dsn(database: str) -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + db["PASSWORD"]
    return f"postgresql://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{database}"


@pytest.fixture
def source_db():
    """(database name, DSN) of an empty database of its own; dropped at the end."""
    import psycopg

    name = f"gv_inplace_{uuid.uuid4().hex[:10]}"
    admin = _dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, _dsn(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(dsn: str, schema: str, table_name: str, table: pa.Table) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.adbc_ingest(table_name, table, mode="create", db_schema_name=schema)
            cur.execute(f'ANALYZE "{schema}"."{table_name}"')
        conn.commit()


@pytest.fixture
def pg_source(source_db, monkeypatch, owner):
    name, dsn = source_db
    monkeypatch.setenv("GV_TEST_PG_DSN", dsn)
    db = settings.DATABASES["default"]
    return Source.objects.create(
        name=f"warehouse {name}",
        kind="postgres",
        uri=f"postgres://{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}",
        secret="GV_TEST_PG_DSN",
        owner=owner,
    )


def table_version(dataset, source, schema, table, *, rows: int, kind: str = "table"):
    dataset.source = source
    dataset.save()
    reference = {"schema": schema, "table": table, "kind": kind, "row_estimate": rows, "primary_key": []}
    return reference_version(dataset, uri=source.uri, fmt="table", reference=reference, size=0)


def test_a_table_is_profiled_in_place_like_the_same_rows_in_a_file(dataset, pg_source, source_db, tmp_path):
    table = people()
    load(source_db[1], "sales", "People é", table)
    on_disk = tmp_path / "people.parquet"
    pq.write_table(table, on_disk)
    expected = profile_file(str(on_disk), format="parquet")

    run = profiled(table_version(dataset, pg_source, "sales", "People é", rows=3000))

    assert run.status == "succeeded", run.error
    assert run.row_count == 3000
    assert summary(run.columns) == summary(expected.columns)
    where = run.method["location"]
    assert where["kind"] == "table" and where["where"].endswith(" sales.People é") and "live" in where
    assert "sample" not in where
    assert run.quality and run.quality["results"]
    assert "GV_TEST_PG_DSN" not in str(run.method) and source_db[1] not in str(run.method)


def test_a_big_table_is_sampled_when_the_source_says_so_and_the_profile_says_it_was(
    dataset, pg_source, source_db
):
    load(source_db[1], "public", "events", people(rows=20000))
    pg_source.sample_above_rows = 2000
    pg_source.save()

    run = profiled(table_version(dataset, pg_source, "public", "events", rows=20000))

    assert run.status == "succeeded", run.error
    sample = run.method["location"]["sample"]
    assert sample == {"method": "TABLESAMPLE SYSTEM", "percent": 10.0, "row_estimate": 20000}
    assert 0 < run.row_count < 20000  # SYSTEM samples pages: about a tenth, not exactly
    assert any("TABLESAMPLE SYSTEM (10 %)" in w for w in run.warnings)
    # The quality check read the same sample (REPEATABLE): the suite proposed from the profile's
    # ranges and value sets holds on it, over as many rows.
    assert run.quality["success"], [r for r in run.quality["results"] if not r["success"]]
    assert run.method["quality"].get("rows", run.row_count) == run.row_count


def test_types_without_an_arrow_type_are_read_as_text_not_refused(dataset, pg_source, source_db):
    import psycopg

    with psycopg.connect(source_db[1], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE odd (n numeric(12,3), j jsonb, u uuid, ip inet, r int4range, iv interval, "
            "m money, a int[], p point, x xml)"
        )
        conn.execute(
            "INSERT INTO odd SELECT g / 4.0, jsonb_build_object('g', g), gen_random_uuid(), '10.0.0.1', "
            "int4range(g, g + 2), make_interval(days => g), g, ARRAY[g, g], point(g, g), '<a/>' "
            "FROM generate_series(1, 400) g"
        )

    run = profiled(table_version(dataset, pg_source, "public", "odd", rows=400))

    assert run.status == "succeeded", run.error
    types = {c["name"]: c["type"] for c in run.schema}
    assert types["n"] == "float" and types["m"] == "float"
    assert {types[c] for c in ("j", "u", "r", "iv")} == {"string"}
    by_name = {c["name"]: c for c in run.columns}
    assert by_name["n"]["mean"] == pytest.approx(sum(g / 4 for g in range(1, 401)) / 400)
    assert by_name["u"]["distinct_count"] == 400
    assert run.method["location"]["casts"]["u"] == "uuid read as text"


def test_a_dropped_table_fails_with_a_message_and_a_view_is_read_whole(dataset, pg_source, source_db):
    load(source_db[1], "public", "gone", people(rows=10))
    version = table_version(dataset, pg_source, "public", "gone", rows=10)
    import psycopg

    with psycopg.connect(source_db[1], autocommit=True) as conn:
        conn.execute("DROP TABLE gone")

    run = profiled(version)

    assert run.status == "failed"
    assert "public.gone no longer exists at the source" in run.error

    load(source_db[1], "public", "base", people(rows=500))
    with psycopg.connect(source_db[1], autocommit=True) as conn:
        conn.execute("CREATE VIEW recent AS SELECT * FROM base WHERE age > 30")
    pg_source.sample_above_rows = 10
    pg_source.save()
    view = table_version(dataset, pg_source, "public", "recent", rows=400, kind="view")
    assert location_of(view).table.sample_percent is None
    run = profiled(view)
    assert run.status == "succeeded", run.error
    assert any("a view cannot be sampled" in w for w in run.warnings)
