"""Where a value is still stored: every text, JSON and binary cell of every table of the test
database, and every file under MEDIA_ROOT. The privacy tests assert that deletion and erasure
leave no copy behind ("search the dump"), whichever database runs them."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection


def _cells_holding(needle: str) -> list[str]:
    text, raw = needle.lower(), needle.encode()
    found: list[str] = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            qn = connection.ops.quote_name(table)
            cur.execute(f"SELECT * FROM {qn}")  # noqa: S608 - table names come from introspection
            names = [c[0] for c in cur.description]
            for row in cur.fetchall():
                for name, value in zip(names, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        if raw in bytes(value):
                            found.append(f"{table}.{name}")
                    elif text in str(value).lower():
                        found.append(f"{table}.{name}")
    return found


def _files_holding(needle: str) -> list[str]:
    raw = needle.encode()
    found: list[str] = []
    for folder, _dirs, files in os.walk(settings.MEDIA_ROOT):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                if raw in fh.read():
                    found.append(path)
    return found


def stored_copies(needle: str) -> list[str]:
    """Every database cell ("table.column") and stored file that still holds ``needle``."""
    return _cells_holding(needle) + _files_holding(needle)
