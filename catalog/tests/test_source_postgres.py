"""The PostgreSQL connector against a real server: what discover() finds in a filled database
(tests/pg_source.py), fingerprints that stay put without a change and move with one, access denied
and a table dropped mid-scan as per-table outcomes, and clear errors for a source that cannot be read.

The server trusts 127.0.0.1 (any password is accepted), so "wrong password" is not reproducible here:
a user that does not exist, a closed port, an unknown host and a missing database stand in for the
refusals, and every one is checked not to show the password it was given."""

import psycopg
import pytest

from catalog.connectors.base import Found, Problem, SourceError
from catalog.connectors.postgres import RELATIONS_SQL, PostgresConnector, table_sql
from tests.pg_source import AWKWARD_COLUMNS, AWKWARD_TABLE

pg = pytest.mark.postgres
PASSWORD = "S3cret-pw!x"


def by_table(results) -> dict:
    """{schema.table: Found | Problem}."""
    return {r.name.split(".", 1)[1]: r for r in results}


def fingerprints(source) -> dict[str, str]:
    return {k: f.fingerprint for k, f in by_table(PostgresConnector(source).discover()).items()}


@pg
def test_discover_finds_every_table_view_and_materialized_view(source_db, postgres_source):
    found = list(PostgresConnector(postgres_source(source_db)).discover())
    assert all(isinstance(f, Found) for f in found)
    tables = by_table(found)
    assert sorted(tables) == source_db.datasets  # partitions are not datasets: their parent is
    assert len(tables) == 300 + 3 + 4
    t = tables["sales.t_0000"]
    assert (t.namespace, t.name, t.uri, t.format) == (
        f"postgres://{source_db.host}:{source_db.port}",
        f"{source_db.name}.sales.t_0000",
        source_db.uri,
        "table",
    )
    kinds = {name: f.reference["kind"] for name, f in tables.items()}
    assert kinds["sales.v_recent"] == "view"
    assert kinds["sales.mv_totals"] == "materialized view"
    assert kinds["sales.events"] == kinds["ml.t_0001"] == "table"
    assert all(len(f.fingerprint) == 64 for f in found)


@pg
def test_columns_comments_keys_and_row_estimates(source_db, postgres_source):
    tables = by_table(PostgresConnector(postgres_source(source_db)).discover())
    t0 = tables["sales.t_0000"]
    assert t0.columns == [
        {"name": "id", "type": "bigint", "description": "Row id of t_0000", "primary_key": True},
        {"name": "name", "type": "text"},
        {"name": "amount", "type": "numeric(12,2)"},
    ]
    assert t0.description == "Table number 0"
    assert t0.reference == {
        "schema": "sales",
        "table": "t_0000",
        "kind": "table",
        "row_estimate": 3,
        "primary_key": ["id"],
    }
    assert t0.size_bytes > 0
    t1 = tables["ml.t_0001"]  # never analysed: the estimate is unknown, not 0
    assert t1.reference["row_estimate"] is None
    assert t1.description == ""
    assert [c["type"] for c in t1.columns][-1] == "timestamp with time zone"
    features = tables["ml.features"]
    assert features.reference["primary_key"] == ["entity_id", "ts"]
    assert [c.get("primary_key", False) for c in features.columns] == [True, True, False]
    view = tables["raw.v_recent"]
    assert view.columns == [{"name": "id", "type": "bigint"}, {"name": "name", "type": "text"}]
    assert view.reference["row_estimate"] is None and view.size_bytes == 0


@pg
def test_names_with_spaces_quotes_and_accents(source_db, postgres_source):
    found = by_table(PostgresConnector(postgres_source(source_db)).discover())[f"raw.{AWKWARD_TABLE}"]
    assert found.name == f'{source_db.name}.raw.my table "quoted" é'
    assert [c["name"] for c in found.columns] == list(AWKWARD_COLUMNS)
    assert found.columns[1]["description"] == "accent é"
    assert found.reference["primary_key"] == ["col with space"]
    query = table_sql("raw", AWKWARD_TABLE, columns=["é", 'a"b', "col with space"])
    with source_db.connect() as conn:
        assert sorted(conn.execute(query).fetchall()) == [("deux", "y", 2), ("un", "x", 1)]
        sampled = conn.execute(table_sql("sales", "t_0000", sample_percent=50, seed=7)).fetchall()
    assert len(sampled) <= 3


@pg
def test_include_and_exclude_patterns_match_schema_dot_table(source_db, postgres_source):
    source = postgres_source(source_db, include=["sales.*", "ml.features"], exclude=["sales.t_0*"])
    names = sorted(by_table(PostgresConnector(source).discover()))
    assert names == ["ml.features", "sales.events", "sales.mv_totals", "sales.v_recent"]


@pg
def test_fingerprints_are_stable_when_nothing_changed(source_db, postgres_source):
    source = postgres_source(source_db)
    assert fingerprints(source) == fingerprints(source)


@pg
def test_fingerprint_moves_with_every_write_and_schema_change(scratch_source_db, postgres_source):
    db = scratch_source_db
    db.execute("CREATE TABLE sales.m (id int PRIMARY KEY, v text); INSERT INTO sales.m VALUES (1, 'a')")
    source = postgres_source(db, include=["sales.m"])
    seen = [fingerprints(source)["sales.m"]]
    changes = [
        "INSERT INTO sales.m VALUES (2, 'b')",
        "UPDATE sales.m SET v = 'c' WHERE id = 1",
        "DELETE FROM sales.m WHERE id = 2",
        "TRUNCATE sales.m",  # moves no counter: the table's new file does
        "ALTER TABLE sales.m ADD COLUMN w int",
        "ALTER TABLE sales.m ALTER COLUMN w TYPE bigint",
        "COMMENT ON COLUMN sales.m.v IS 'the value'",
        "COMMENT ON TABLE sales.m IS 'mutable'",
    ]
    for statement in changes:
        db.execute(statement)
        now = fingerprints(source)["sales.m"]
        assert now not in seen, statement
        seen.append(now)
    for statement in ("VACUUM sales.m", "ANALYZE sales.m", "SELECT count(*) FROM sales.m"):
        db.execute(statement)
        assert fingerprints(source)["sales.m"] == seen[-1], statement


@pg
def test_partitioned_table_view_and_materialized_view_fingerprints(scratch_source_db, postgres_source):
    db = scratch_source_db
    source = postgres_source(db, include=["sales.*"])
    before = fingerprints(source)
    db.execute("INSERT INTO sales.events VALUES (3, '2026-07-01', '{}')")  # lands in events_2026
    after_insert = fingerprints(source)
    assert after_insert["sales.events"] != before["sales.events"]
    db.execute("TRUNCATE sales.events_2025")
    assert fingerprints(source)["sales.events"] != after_insert["sales.events"]

    db.execute("INSERT INTO sales.t_0000 VALUES (10, 'z')")  # v_recent's base table
    now = fingerprints(source)
    assert now["sales.v_recent"] == before["sales.v_recent"]  # a view versions its definition only
    assert now["sales.t_0000"] != before["sales.t_0000"]
    db.execute("CREATE OR REPLACE VIEW sales.v_recent AS SELECT id, name FROM sales.t_0000 WHERE id > 5")
    db.execute("REFRESH MATERIALIZED VIEW sales.mv_totals")
    later = fingerprints(source)
    assert later["sales.v_recent"] != now["sales.v_recent"]
    assert later["sales.mv_totals"] != now["sales.mv_totals"]


@pg
def test_a_table_the_user_may_not_read_is_a_problem(source_db, postgres_source):
    dsn = source_db.add_role(denied=[("sales", "t_0003")], no_usage=["ml"])
    results = by_table(PostgresConnector(postgres_source(source_db, dsn=dsn)).discover())
    assert sorted(results) == source_db.datasets
    denied = results["sales.t_0003"]
    assert isinstance(denied, Problem)
    assert denied.name == f"{source_db.name}.sales.t_0003"
    assert denied.message == 'access denied: no SELECT privilege on the table "sales"."t_0003"'
    assert isinstance(results["ml.features"], Problem)
    assert results["ml.features"].message == 'access denied: no USAGE privilege on the schema "ml"'
    readable = {k for k, r in results.items() if isinstance(r, Found)}
    assert readable == {k for k in source_db.datasets if not k.startswith("ml.") and k != "sales.t_0003"}


@pg
def test_a_table_dropped_during_the_scan_breaks_nothing(scratch_source_db, postgres_source, monkeypatch):
    """The drop lands between the scan's first catalog query and the next ones: the scan holds no
    lock on any table (the drop would wait otherwise) and reads one snapshot to the end."""
    db = scratch_source_db
    connect = PostgresConnector._connect

    class DropAfterListing(psycopg.Cursor):
        def execute(self, query, params=None, **kw):
            result = super().execute(query, params, **kw)
            if query == RELATIONS_SQL:
                with db.connect() as other:
                    other.execute("SET lock_timeout = '5s'")
                    other.execute("DROP TABLE sales.t_0000 CASCADE; DROP TABLE sales.events")
            return result

    def hooked(self):
        conn = connect(self)
        conn.cursor_factory = DropAfterListing
        return conn

    monkeypatch.setattr(PostgresConnector, "_connect", hooked)
    results = list(PostgresConnector(postgres_source(db)).discover())
    assert all(isinstance(r, Found) for r in results)
    assert "ml.t_0001" in by_table(results)
    monkeypatch.setattr(PostgresConnector, "_connect", connect)
    after = by_table(PostgresConnector(postgres_source(db)).discover())
    assert "sales.t_0000" not in after and "sales.events" not in after and "sales.v_recent" not in after


def refusal(source, *, discover: bool = False) -> str:
    connector = PostgresConnector(source)
    with pytest.raises(SourceError) as caught:
        list(connector.discover()) if discover else connector.check()
    message = str(caught.value)
    assert PASSWORD not in message and "S3cret" not in message
    return message


@pg
def test_check_passes_on_a_readable_database(source_db, postgres_source):
    PostgresConnector(postgres_source(source_db)).check()
    PostgresConnector(postgres_source(source_db, dsn=source_db.dsn(password=PASSWORD))).check()


@pg
def test_unreachable_server_unknown_host_and_missing_database(source_db, postgres_source):
    closed = postgres_source(source_db, uri=f"postgres://127.0.0.1:1/{source_db.name}", dsn=PASSWORD)
    assert refusal(closed).startswith(f"Cannot reach PostgreSQL at 127.0.0.1:1/{source_db.name}: ")
    assert "refused" in refusal(closed, discover=True)
    nowhere = postgres_source(source_db, uri="postgres://no-such-host.invalid:5432/db", dsn=PASSWORD)
    assert "no-such-host.invalid" in refusal(nowhere)
    missing = postgres_source(source_db, uri=f"postgres://{source_db.host}:{source_db.port}/gv_no_such_db")
    assert "the database does not exist" in refusal(missing)


@pg
def test_unknown_user_bad_dsn_and_other_database(source_db, postgres_source):
    stranger = source_db.dsn(user="gv_nobody_here", password=PASSWORD)
    message = refusal(postgres_source(source_db, dsn=stranger))
    assert "has no user 'gv_nobody_here'" in message
    broken = f"host={source_db.host} password={PASSWORD} dbname"
    assert "is not a valid PostgreSQL connection string" in refusal(postgres_source(source_db, dsn=broken))
    other = f"postgresql://postgres:{PASSWORD}@{source_db.host}:{source_db.port}/postgres"
    assert "connects to the database 'postgres'" in refusal(postgres_source(source_db, dsn=other))


@pg
def test_a_secret_that_is_not_set(source_db, postgres_source, monkeypatch):
    monkeypatch.delenv("GV_TEST_UNSET_SECRET", raising=False)
    source = postgres_source(source_db, secret="GV_TEST_UNSET_SECRET")
    assert "GV_TEST_UNSET_SECRET" in refusal(source)
    assert "GV_TEST_UNSET_SECRET" in refusal(source, discover=True)


def test_table_sql_quotes_every_name():
    assert table_sql("s", "t") == 'SELECT * FROM "s"."t"'
    assert table_sql("my schema", 'a"b', columns=["é", "x y"]) == 'SELECT "é", "x y" FROM "my schema"."a""b"'
    assert table_sql("s", "t", sample_percent=2.5) == 'SELECT * FROM "s"."t" TABLESAMPLE SYSTEM (2.5)'
    assert table_sql("s", "t", sample_percent=1, seed=3).endswith("TABLESAMPLE SYSTEM (1.0) REPEATABLE (3)")
    assert table_sql("s", "t", sample_percent=100) == 'SELECT * FROM "s"."t"'
    assert table_sql("s", 'x"; DROP TABLE t; --') == 'SELECT * FROM "s"."x""; DROP TABLE t; --"'


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schema": "", "table": "t"},
        {"schema": "s", "table": "a\x00b"},
        {"schema": "s", "table": "t", "columns": []},
        {"schema": "s", "table": "t", "columns": "abc"},
        {"schema": "s", "table": "t", "sample_percent": 0},
        {"schema": "s", "table": "t", "sample_percent": 101},
        {"schema": "s", "table": "t", "sample_percent": float("nan")},
    ],
)
def test_table_sql_refuses_what_is_not_a_name_or_a_percentage(kwargs):
    with pytest.raises(ValueError):
        table_sql(**kwargs)


def test_a_wrong_password_is_named_without_the_password():
    """PostgreSQL's own words for a refused password (not reproducible on this trusting server)."""
    from catalog.models import Source

    source = Source(name="pg", kind="postgres", uri="postgres://db.example:5432/sales", secret="GV_PW")
    error = psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
        'FATAL:  password authentication failed for user "bob"'
    )
    dsn = f"postgresql://bob:{PASSWORD}@db.example:5432/sales"
    message = PostgresConnector(source)._connect_failure(error, dsn)
    assert message.startswith("PostgreSQL at db.example:5432/sales refused the password of user 'bob'")
    assert "check the secret 'GV_PW'" in message
    assert PASSWORD not in message
