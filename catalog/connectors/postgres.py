"""PostgreSQL as a source: the tables, views and materialized views of one database, found through
its catalog (pg_catalog) in three bulk queries whatever the number of tables, and nothing read from
the tables themselves.

What a dataset's fingerprint covers (``Found.fingerprint``, sha256):

- its *schema*: kind, columns in order with their types, NOT NULL, primary key and comments, the
  table's comment, and for views and materialized views their stored definition (pg_rewrite);
- for tables and materialized views, a *change signal* read from the statistics system without
  touching the table: ``n_tup_ins``, ``n_tup_upd`` and ``n_tup_del`` (pg_stat_user_tables) and the
  relation's file (``relfilenode``), which TRUNCATE, REFRESH MATERIALIZED VIEW and table rewrites
  replace while the counters stay put. A partitioned table sums its leaf partitions (the partitions
  themselves are not listed: they are the parent's data). VACUUM and ANALYZE move neither.

So every committed write gives a new fingerprint, but a few things that leave the rows as they were
give one too (a new version of the same data, never a missed change): VACUUM FULL and CLUSTER (new
file), a rolled-back INSERT/UPDATE/DELETE (PostgreSQL counts it), ``pg_stat_reset()`` or a crash
(counters start again from zero). A writing session hands its counters to the statistics system
when a transaction ends, no more than once a second (PostgreSQL 15: a session that then goes idle
hands them over within 10 s, 60 s at worst under contention), so a scan a moment after a write may
see it only at the next scan. A *view*'s fingerprint moves when its
definition or columns change, not when the data of its base tables does. On a hot standby the
counters do not count the primary's writes: point a source at the primary.

Nothing here locks a user table or writes: one read-only REPEATABLE READ transaction (one snapshot
of the catalog), a statement timeout, and catalog functions that take no relation lock (a table
dropped during the scan is listed as the snapshot saw it, or absent). ``table_sql`` builds the quoted SELECT the in-place
profiler reads a table with.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from catalog.connectors.access import postgres_dsn, postgres_namespace, postgres_parts
from catalog.connectors.base import Found, Problem, SourceError, selected
from catalog.connectors.secrets import redact

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT = "60s"
KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}

# Every relation a scan may list, with what its fingerprint and Found need: one row each. Schemas
# named pg_* are PostgreSQL's own (pg_catalog, pg_toast, pg_temp_N: users cannot create such names).
# has_*_privilege answer NULL for an object dropped after the snapshot was taken.
RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.relfilenode,
       (c.relpages::bigint + COALESCE(t.relpages, 0)) * current_setting('block_size')::bigint,
       d.description,
       has_schema_privilege(c.relnamespace, 'USAGE'),
       has_table_privilege(c.oid, 'SELECT'),
       pg_stat_get_tuples_inserted(c.oid), pg_stat_get_tuples_updated(c.oid),
       pg_stat_get_tuples_deleted(c.oid),
       md5(r.ev_action::text)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
"""

# The columns of the selected relations, in order, with their comment and place in the primary key.
COLUMNS_SQL = """
SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       d.description, array_position(k.conkey, a.attnum)
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
LEFT JOIN pg_catalog.pg_constraint k ON k.conrelid = a.attrelid AND k.contype = 'p'
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# The leaf partitions of the selected partitioned tables (pg_inherits walked down, which takes no
# lock, unlike pg_partition_tree), with their change signals and sizes.
PARTITIONS_SQL = """
WITH RECURSIVE tree(parent, relid) AS (
    SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY(%s::oid[])
    UNION ALL
    SELECT tree.parent, i.inhrelid FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.relid
)
SELECT tree.parent, l.oid, l.relfilenode, l.reltuples,
       (l.relpages::bigint + COALESCE(t.relpages, 0)) * current_setting('block_size')::bigint,
       pg_stat_get_tuples_inserted(l.oid), pg_stat_get_tuples_updated(l.oid),
       pg_stat_get_tuples_deleted(l.oid)
FROM tree
JOIN pg_catalog.pg_class l ON l.oid = tree.relid AND l.relkind NOT IN ('p', 'I')
LEFT JOIN pg_catalog.pg_class t ON t.oid = l.reltoastrelid
ORDER BY tree.parent, l.oid
"""


class PostgresConnector:
    """Lists a PostgreSQL database's tables, views and materialized views (see the module's doc).

    ``source`` is a catalog.models.Source of kind postgres: ``uri`` is postgres://host:port/database,
    ``secret`` names where the password or the whole DSN is (read at each connection, never kept)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def check(self) -> None:
        """Connect and authenticate; SourceError says what is wrong (never with the password)."""
        with self._connect() as conn:
            conn.execute("SELECT 1")

    def discover(self) -> Iterator[Found | Problem]:
        """One Found per selected table, view and materialized view (``schema.table`` matched against
        the source's include/exclude globs), a Problem for each one the user may not read. All is read
        in one snapshot before the first is yielded; SourceError if the database cannot be read."""
        host, port, database = postgres_parts(self.source.uri)
        namespace = postgres_namespace(self.source.uri)
        uri = f"postgres://{host}:{port}/{quote(database, safe='')}"
        try:
            rows, columns, partitions = self._read_catalog()
        except psycopg.Error as exc:
            raise SourceError(self._failure("Reading the catalog of", exc)) from None
        for row in rows:
            rel = Relation(*row)
            name = f"{database}.{rel.schema}.{rel.table}"
            if rel.schema_usage is None or rel.table_select is None:
                continue  # dropped while the scan ran: absent, as it would be a moment later
            if not (rel.schema_usage and rel.table_select):
                yield Problem(name, rel.access_denied())
                continue
            yield rel.found(
                namespace=namespace,
                name=name,
                uri=uri,
                columns=columns.get(rel.oid, []),
                partitions=partitions.get(rel.oid),
            )

    def _read_catalog(self) -> tuple[list[tuple], dict[int, list[tuple]], dict[int, list[tuple]]]:
        """(relations selected by the patterns, their columns by oid, leaf partitions by parent oid)."""
        include, exclude = self.source.include or [], self.source.exclude or []
        with self._connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
                cur.execute(RELATIONS_SQL)
                rows = [r for r in cur.fetchall() if selected(f"{r[1]}.{r[2]}", include, exclude)]
                oids = [r[0] for r in rows]
                columns: dict[int, list[tuple]] = {}
                if oids:
                    cur.execute(COLUMNS_SQL, (oids,))
                    for attrelid, *column in cur.fetchall():
                        columns.setdefault(attrelid, []).append(tuple(column))
                partitions: dict[int, list[tuple]] = {}
                parents = [r[0] for r in rows if r[3] == "p"]
                if parents:
                    cur.execute(PARTITIONS_SQL, (parents,))
                    for parent, *leaf in cur.fetchall():
                        partitions.setdefault(parent, []).append(tuple(leaf))
        return rows, columns, partitions

    def _connect(self) -> psycopg.Connection:
        """A connection to the source's database, or SourceError saying why there is none."""
        dsn = postgres_dsn(self.source)  # SourceError when the secret is not set
        try:
            conn = psycopg.connect(
                dsn,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name="gouvernail-scan",
                prepare_threshold=None,  # nothing prepared: safe behind PgBouncer's transaction pooling
            )
        except psycopg.Error as exc:
            raise SourceError(self._connect_failure(exc, dsn)) from None
        _, _, database = postgres_parts(self.source.uri)
        try:
            actual = conn.execute("SELECT current_database()").fetchone()[0]
            conn.rollback()
        except psycopg.Error as exc:
            conn.close()
            raise SourceError(self._failure("Querying", exc, dsn)) from None
        if actual != database:
            conn.close()
            raise SourceError(
                f"The secret '{self.source.secret}' connects to the database '{actual}', but the "
                f"source's URI names '{database}': make them the same database."
            )
        return conn

    def _where(self) -> str:
        host, port, database = postgres_parts(self.source.uri)
        return f"PostgreSQL at {host}:{port}/{database}"

    def _failure(self, doing: str, exc: Exception, dsn: str = "") -> str:
        detail = " ".join(str(exc).split())
        return _scrub(f"{doing} {self._where()} failed: {detail}", dsn or _safe_dsn(self.source))

    def _connect_failure(self, exc: Exception, dsn: str) -> str:
        """What went wrong when connecting, in words a user can act on (the driver's text after)."""
        text = str(exc)
        detail = " ".join(text.replace("connection failed: ", "", 1).split())
        where = self._where()
        user = _dsn_part(dsn, "user") or "postgres"
        secret = self.source.secret
        if isinstance(exc, psycopg.ProgrammingError):
            message = f"The secret '{secret}' is not a valid PostgreSQL connection string: {detail}"
        elif "database" in text and "does not exist" in text:
            message = f"{where}: the database does not exist ({detail})."
        elif "password authentication failed" in text or "no password supplied" in text:
            message = (
                f"{where} refused the password of user '{user}': check the secret "
                f"'{secret or '(none)'}' ({detail})."
            )
        elif "role" in text and "does not exist" in text:
            message = f"{where} has no user '{user}' ({detail})."
        elif "pg_hba.conf" in text:
            message = f"{where} does not accept connections from here for user '{user}' ({detail})."
        elif "timeout" in text:
            message = f"{where} did not answer within {CONNECT_TIMEOUT_SECONDS} s ({detail})."
        else:
            message = f"Cannot reach {where}: {detail}"
        return _scrub(message, dsn)


@dataclass
class Relation:
    """One row of RELATIONS_SQL (in its order), turned into a Found."""

    oid: int
    schema: str
    table: str
    relkind: str
    reltuples: float | None
    relfilenode: int
    size: int | None
    description: str | None
    schema_usage: bool | None  # None: dropped since the snapshot
    table_select: bool | None
    inserted: int | None
    updated: int | None
    deleted: int | None
    definition: str | None  # md5 of a view's stored query tree

    @property
    def kind(self) -> str:
        return KINDS[self.relkind]

    def access_denied(self) -> str:
        if not self.schema_usage:
            return f"access denied: no USAGE privilege on the schema {sql_name(self.schema)}"
        return f"access denied: no SELECT privilege on the {self.kind} {sql_name(self.schema, self.table)}"

    def found(self, *, namespace: str, name: str, uri: str, columns: list[tuple], partitions) -> Found:
        cols, primary_key = [], []
        for position, (col_name, col_type, _notnull, description, pk_position) in enumerate(columns):
            col: dict[str, Any] = {"name": col_name, "type": col_type}
            if description:
                col["description"] = description
            if pk_position:
                col["primary_key"] = True
                primary_key.append((pk_position, position, col_name))
            cols.append(col)
        primary_key_names = [n for *_, n in sorted(primary_key)]
        size, rows, signal = self.data_signal(partitions)
        schema = [self.kind, [list(c) for c in columns], self.description or "", self.definition or ""]
        payload = json.dumps({"schema": schema, "data": signal}, separators=(",", ":"), default=str)
        return Found(
            namespace=namespace,
            name=name,
            uri=uri,
            fingerprint=hashlib.sha256(payload.encode()).hexdigest(),
            format="table",
            size_bytes=size,
            columns=cols,
            description=self.description or "",
            reference={
                "schema": self.schema,
                "table": self.table,
                "kind": self.kind,
                "row_estimate": rows,
                "primary_key": primary_key_names,
            },
        )

    def data_signal(self, partitions: list[tuple] | None) -> tuple[int, int | None, list]:
        """(size in bytes as of the last VACUUM/ANALYZE, row estimate or None, the change signal)."""
        if self.relkind == "v":
            return 0, None, []
        if self.relkind != "p":
            return (
                self.size or 0,
                _estimate(self.reltuples),
                [self.relfilenode, self.inserted or 0, self.updated or 0, self.deleted or 0],
            )
        leaves = partitions or []
        signal = [
            [oid, filenode, ins or 0, upd or 0, dele or 0] for oid, filenode, _, _, ins, upd, dele in leaves
        ]
        estimates = [_estimate(leaf[2]) for leaf in leaves]
        rows = _estimate(self.reltuples)
        if rows is None and leaves and None not in estimates:
            rows = sum(estimates)
        return sum(leaf[3] or 0 for leaf in leaves), rows, signal


def _estimate(reltuples: float | None) -> int | None:
    """pg_class.reltuples as a row count; -1 means never vacuumed nor analyzed: unknown."""
    return None if reltuples is None or reltuples < 0 else int(reltuples)


def _dsn_part(dsn: str, key: str) -> str:
    try:
        return conninfo_to_dict(dsn).get(key) or ""
    except psycopg.Error:
        return ""


def _safe_dsn(source: Any) -> str:
    try:
        return postgres_dsn(source)
    except SourceError:
        return ""


def _scrub(message: str, dsn: str) -> str:
    """``message`` without the DSN, its password, or any password=... in it."""
    message = redact(message, dsn, _dsn_part(dsn, "password"))
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", message)


def _identifier(*parts: str) -> sql.Identifier:
    for part in parts:
        if not isinstance(part, str) or not part or "\x00" in part:
            raise ValueError(f"Not a PostgreSQL name: {part!r}.")
    return sql.Identifier(*parts)


def sql_name(*parts: str) -> str:
    """``"schema"."table"`` quoted as PostgreSQL reads it, whatever the names hold."""
    return _identifier(*parts).as_string()


def table_sql(
    schema: str,
    table: str,
    *,
    columns: Sequence[str] | None = None,
    sample_percent: float | None = None,
    seed: int | None = None,
) -> str:
    """``SELECT "c1", ... FROM "schema"."table" [TABLESAMPLE SYSTEM (p) [REPEATABLE (seed)]]`` with
    every name quoted. ``columns`` None: all (``*``). ``sample_percent`` in (0, 100): PostgreSQL's
    block sampling (about p % of the pages, fast on huge tables; tables and materialized views only,
    not views); 100 or None: every row. ``seed`` makes the sample repeatable."""
    if columns is None:
        projection: sql.Composable = sql.SQL("*")
    elif isinstance(columns, str) or not columns:
        raise ValueError("columns is a non-empty list of column names, or None for all.")
    else:
        projection = sql.SQL(", ").join(_identifier(c) for c in columns)
    query = sql.SQL("SELECT {} FROM {}").format(projection, _identifier(schema, table))
    if sample_percent is not None:
        percent = float(sample_percent)
        if not 0 < percent <= 100:
            raise ValueError(f"sample_percent is in (0, 100], not {sample_percent!r}.")
        if percent < 100:
            query += sql.SQL(" TABLESAMPLE SYSTEM ({})").format(sql.Literal(percent))
            if seed is not None:
                query += sql.SQL(" REPEATABLE ({})").format(sql.Literal(int(seed)))
    return query.as_string()
