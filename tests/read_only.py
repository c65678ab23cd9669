"""Checks that a read is only a read: every selector runs under ``no_writes()``, which fails the test
on the first INSERT, UPDATE, DELETE (or other statement that changes data) sent to the database.

    from tests.read_only import no_writes, public_functions

    def test_selectors_only_read(...):
        with no_writes():
            selectors.some_read(...)

``public_functions(module)`` lists the functions a module defines and does not mark private, so a
test can assert that its table of calls covers every one of them (a new selector cannot slip by).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from django.db import connections

WRITE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(INSERT|UPDATE|DELETE|REPLACE|MERGE|TRUNCATE|CREATE|DROP|ALTER)\b",
    re.IGNORECASE | re.DOTALL,
)
# SAVEPOINT / RELEASE and SELECT ... FOR UPDATE are not writes: atomic blocks and locks around reads.


class WriteInRead(AssertionError):
    pass


def _is_write(sql: str) -> bool:
    head = sql.lstrip().upper()
    if head.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "SELECT", "PRAGMA", "SET ", "SHOW")):
        return False
    return bool(WRITE.match(sql))


@contextmanager
def no_writes(using: str = "default") -> Iterator[list[str]]:
    """Fail on the first statement that would change data; yields the list of statements seen."""
    seen: list[str] = []

    def guard(execute, sql, params, many, context):
        seen.append(sql)
        if _is_write(sql):
            raise WriteInRead(f"a read wrote to the database: {sql[:300]}")
        return execute(sql, params, many, context)

    with connections[using].execute_wrapper(guard):
        yield seen


def public_functions(module: ModuleType) -> set[str]:
    """Names of the functions defined in ``module`` itself that do not start with an underscore."""
    return {
        name
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }
