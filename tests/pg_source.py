"""A PostgreSQL database filled to be scanned as a source, for tests and benchmarks.

``make_source_database(n_tables=300, schemas=3)`` creates a separate database
``gv_source_test_<random>`` on the server of ``admin_url()`` and fills it in one round trip:

- ``n_tables`` plain tables spread over the schemas (``sales``, ``ml``, ``raw``, then ``schema_4``...),
  ``t_0000``, ``t_0001``..., each with a bigint primary key and 2 to 6 more columns; every tenth has
  comments and three rows and is analysed (a row estimate), the others have none (estimate unknown);
- per schema a view ``v_recent``; ``sales.mv_totals`` (materialized view);
- ``ml.features`` (composite primary key ``entity_id, ts``);
- ``sales.events`` partitioned by range into ``events_2025`` and ``events_2026`` (only the parent is a
  dataset);
- ``raw."my table ""quoted"" é"`` with columns ``"col with space"`` (primary key), ``"é"`` and ``"a""b"``.

``SourceDatabase.datasets`` lists every ``schema.table`` a scan should find. ``drop()`` removes the
database and the roles ``add_role`` made. Connections need nothing from Django.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlparse

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SCHEMAS = ("sales", "ml", "raw")
BATCH = 400  # statements sent (and committed) at once
AWKWARD_TABLE = 'my table "quoted" é'
AWKWARD_COLUMNS = ("col with space", "é", 'a"b')


def admin_url() -> str:
    """Where test databases are created: $GOUVERNAIL_PG_ADMIN_URL, else the server of a postgres
    $DATABASE_URL, else postgres@127.0.0.1:5432 (trust authentication)."""
    explicit = os.environ.get("GOUVERNAIL_PG_ADMIN_URL")
    if explicit:
        return explicit
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return urlparse(url)._replace(path="/postgres", query="").geturl()
    return DEFAULT_ADMIN_URL


@dataclass
class SourceDatabase:
    """A database made by make_source_database; ``uri`` is what a Source of kind postgres holds."""

    name: str
    admin: str
    datasets: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlparse(self.admin).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlparse(self.admin).port or 5432

    @property
    def uri(self) -> str:
        return f"postgres://{self.host}:{self.port}/{self.name}"

    def dsn(self, user: str | None = None, password: str | None = None) -> str:
        """A libpq URI for this database as ``user`` (default: the admin URL's user)."""
        parsed = urlparse(self.admin)
        user = user or parsed.username or "postgres"
        password = (
            password if password is not None else (parsed.password if user == parsed.username else None)
        )
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.name}"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn(), autocommit=True)

    def execute(self, statements: str, params=None) -> None:
        """Run ``statements`` (autocommit) and push the statistics counters they moved to the
        statistics system at once (PostgreSQL flushes them at most once a second otherwise)."""
        with self.connect() as conn:
            conn.execute(statements, params)
            flush_stats(conn)

    def add_role(self, *, denied: list[tuple[str, str]] = (), no_usage: list[str] = ()) -> str:
        """A login role that may read everything but the ``denied`` (schema, table) pairs and the
        schemas in ``no_usage``; its DSN (trust authentication: no password needed)."""
        role = f"gv_source_reader_{uuid.uuid4().hex[:10]}"
        self.roles.append(role)
        parts = [
            sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(self.name), sql.Identifier(role)
            ),
        ]
        with self.connect() as conn:
            schemas = [r[0] for r in conn.execute(SCHEMAS_SQL)]
            for schema in schemas:
                if schema not in no_usage:
                    parts.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(*_ids(schema, role)))
                parts.append(
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(*_ids(schema, role))
                )
            for schema, table in denied:
                parts.append(
                    sql.SQL("REVOKE SELECT ON {} FROM {}").format(
                        sql.Identifier(schema, table), sql.Identifier(role)
                    )
                )
            for part in parts:
                conn.execute(part)
        return self.dsn(user=role)

    def drop(self) -> None:
        drop_source_database(self)


SCHEMAS_SQL = "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'"


def _ids(*names: str) -> list[sql.Identifier]:
    return [sql.Identifier(n) for n in names]


def flush_stats(conn: psycopg.Connection) -> None:
    """Make this session's pending statistics visible to other sessions now (PostgreSQL 15+: at the
    end of the next transaction; before 15 the collector needs about half a second)."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
    else:
        time.sleep(1.0)


def schema_names(schemas: int) -> list[str]:
    return [SCHEMAS[i] if i < len(SCHEMAS) else f"schema_{i + 1}" for i in range(schemas)]


def fill_sql(n_tables: int, schemas: int) -> tuple[list[str], list[str]]:
    """(the statements that fill the database, the schema.table names a scan should find)."""
    names = schema_names(schemas)
    stmts = [f"CREATE SCHEMA {s};" for s in names if s != "public"]
    datasets: list[str] = []
    extra = ["name text", "amount numeric(12,2)", "created_at timestamptz", "flag boolean", "tags text[]"]
    for i in range(n_tables):
        schema, table = names[i % len(names)], f"t_{i:04d}"
        cols = ", ".join(["id bigint PRIMARY KEY", *extra[: 2 + i % 4]])
        stmts.append(f"CREATE TABLE {schema}.{table} ({cols});")
        if i % 10 == 0:
            stmts.append(f"COMMENT ON TABLE {schema}.{table} IS 'Table number {i}';")
            stmts.append(f"COMMENT ON COLUMN {schema}.{table}.id IS 'Row id of {table}';")
            stmts.append(f"INSERT INTO {schema}.{table} (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c');")
            stmts.append(f"ANALYZE {schema}.{table};")
        datasets.append(f"{schema}.{table}")
    for i, schema in enumerate(names[:n_tables]):  # on each schema's first table
        stmts.append(
            f"CREATE VIEW {schema}.v_recent AS SELECT id, name FROM {schema}.t_{i:04d} WHERE id > 1;"
        )
        datasets.append(f"{schema}.v_recent")
    stmts += [
        "CREATE MATERIALIZED VIEW sales.mv_totals AS SELECT 1 AS n, 'x'::text AS label;",
        "CREATE TABLE ml.features (entity_id bigint, ts timestamptz, score double precision, "
        "PRIMARY KEY (entity_id, ts));",
        "CREATE TABLE sales.events (id bigint, day date NOT NULL, payload jsonb) PARTITION BY RANGE (day);",
        "CREATE TABLE sales.events_2025 PARTITION OF sales.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');",
        "CREATE TABLE sales.events_2026 PARTITION OF sales.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        "INSERT INTO sales.events VALUES (1, '2025-06-01', '{}'), (2, '2026-06-01', '{}');",
        'CREATE TABLE raw."my table ""quoted"" é" ("col with space" int PRIMARY KEY, "é" text, "a""b" text);',
        'COMMENT ON COLUMN raw."my table ""quoted"" é"."é" IS \'accent é\';',
        "INSERT INTO raw.\"my table \"\"quoted\"\" é\" VALUES (1, 'un', 'x'), (2, 'deux', 'y');",
    ]
    datasets += ["sales.mv_totals", "ml.features", "sales.events", f"raw.{AWKWARD_TABLE}"]
    return stmts, sorted(set(datasets))


def make_source_database(
    n_tables: int = 300, schemas: int = 3, *, admin: str | None = None
) -> SourceDatabase:
    """A new database ``gv_source_test_<random>`` filled as the module's doc says; call ``drop()``."""
    if schemas < 3:
        raise ValueError("The fixture's special tables live in sales, ml and raw: schemas >= 3.")
    db = SourceDatabase(name=f"gv_source_test_{uuid.uuid4().hex[:12]}", admin=admin or admin_url())
    with psycopg.connect(db.admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
    try:
        statements, db.datasets = fill_sql(n_tables, schemas)
        with db.connect() as conn:
            # One transaction per batch: one for thousands of tables runs out of lock slots.
            for start in range(0, len(statements), BATCH):
                conn.execute("\n".join(statements[start : start + BATCH]))
            flush_stats(conn)
    except BaseException:
        db.drop()
        raise
    return db


def drop_source_database(db: SourceDatabase) -> None:
    """Drop the database (closing its sessions) and then the roles made for it."""
    with psycopg.connect(db.admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))
        for role in db.roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
