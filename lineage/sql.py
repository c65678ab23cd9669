"""SQL pieces the lineage reads share, written once for PostgreSQL and SQLite alike."""

from collections.abc import Iterator

from django.db import connection

from lineage.models import Node

NODE = Node._meta.db_table
EDGE = "lineage_edge"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def in_list(column: str, values: list) -> tuple[str, list]:
    """``column IN (...)`` portable: one array parameter on PostgreSQL, expanded on SQLite."""
    if is_postgres():
        return f"{column} = ANY(%s)", [list(values)]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)


def chunks(values: list, size: int = 900) -> Iterator[list]:
    """Slices of at most ``size`` values: SQLite takes at most 999 parameters in one statement."""
    for i in range(0, len(values), size):
        yield values[i : i + size]
