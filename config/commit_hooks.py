"""After-commit hooks that need to run once per transaction, however many changes asked for them.

A cache invalidation (the clearance generation, the lineage graph's ``graph_changed``) says "something
changed": a transaction that stores fifty model versions needs it once after its commit, not fifty
times. ``on_commit_once`` registers the function unless the same function is already waiting for
this transaction's commit.

Correct across savepoints: Django discards the hooks registered inside a savepoint that rolls back.
A hook found waiting was registered either in a savepoint that encloses this point (it shares our
fate) or in one that was released (its fate is that of the savepoints still open around both), so
it runs whenever this change commits.
"""

from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections, transaction


def on_commit_once(func: Callable[[], None], *, robust: bool = False, using: str | None = None) -> None:
    """``transaction.on_commit(func)``, unless ``func`` already waits for this commit and has not run.
    Outside a transaction it runs at once, as on_commit does."""
    connection = connections[using or DEFAULT_DB_ALIAS]
    if connection.in_atomic_block and any(
        isinstance(f, _Once) and f.func is func and not f.done
        for _sids, f, _robust in connection.run_on_commit
    ):
        return
    transaction.on_commit(_Once(func), robust=robust, using=using)


class _Once:
    """The hook as registered: it knows whether it ran (a test's captureOnCommitCallbacks runs hooks
    without clearing them; the next change must then register its own)."""

    def __init__(self, func: Callable[[], None]) -> None:
        self.func = func
        self.done = False
        self.__qualname__ = getattr(
            func, "__qualname__", repr(func)
        )  # Django logs a robust hook's failure by it

    def __call__(self) -> None:
        self.done = True
        self.func()
