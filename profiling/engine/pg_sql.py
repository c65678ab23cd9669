"""PostgreSQL names quoted for the table reader: psycopg's quoting, no string pasting."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (psycopg's own quoting)."""
    from psycopg import sql

    return sql.Identifier(name).as_string(None)


def table_sql(
    schema: str,
    table: str,
    *,
    columns: list[str] | None = None,
    sample_percent: float | None = None,
    seed: int | None = None,
) -> str:
    """``SELECT cols FROM "schema"."table" [TABLESAMPLE SYSTEM (p) [REPEATABLE (seed)]]``, every name
    quoted by psycopg; a percent of 100 or None reads every row.

    LEAD: the same helper, with the same signature, is catalog.connectors.postgres.table_sql on
    branch pgsrc; once it is on main, profiling.locations.TABLE_SQL can be that one and this can go."""
    from psycopg import sql

    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")
    query = sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier(schema, table))
    if sample_percent is not None and float(sample_percent) < 100:
        percent = max(float(sample_percent), 0.000001)
        query = sql.SQL("{} TABLESAMPLE SYSTEM ({})").format(query, sql.Literal(percent))
        if seed is not None:
            query = sql.SQL("{} REPEATABLE ({})").format(query, sql.Literal(int(seed)))
    return query.as_string(None)
