"""PostgreSQL names quoted for the table reader: psycopg's quoting, no string pasting."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (psycopg's own quoting)."""
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


def table_sql(
    schema: str, table: str, *, columns: list[str] | None = None, sample_percent: float | None = None
) -> str:
    """``SELECT cols FROM "schema"."table" [TABLESAMPLE SYSTEM (p) REPEATABLE (0)]``, every name
    quoted by psycopg. REPEATABLE: the quality check after the profile reads the same sample.

    LEAD: the same helper is being written as catalog.connectors.postgres.table_sql (pgsrc);
    once it is on main, profiling.locations passes that one instead and this can go."""
    from psycopg import sql

    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")
    query = sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier(schema, table))
    if sample_percent is not None:
        percent = min(max(float(sample_percent), 0.000001), 100.0)
        query = sql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE (0)").format(query, sql.Literal(percent))
    return query.as_string(None)
