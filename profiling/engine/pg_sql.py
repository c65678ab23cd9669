"""PostgreSQL names quoted for the table reader: psycopg's quoting, no string pasting."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (psycopg's own quoting)."""
    from psycopg import sql

    return sql.Identifier(name).as_string(None)
