"""config.commit_hooks: a hook asked for by many changes of one transaction runs once after its commit,
and a change whose savepoint rolled back never leaves a later change without it."""

import pytest
from django.db import transaction

from config.commit_hooks import on_commit_once

pytestmark = pytest.mark.django_db


def test_many_changes_one_hook(django_capture_on_commit_callbacks):
    ran: list[int] = []

    def hook() -> None:
        ran.append(1)

    with django_capture_on_commit_callbacks(execute=True) as hooks:
        with transaction.atomic():
            for _ in range(3):
                with transaction.atomic():  # a savepoint per change, as a page of versions has
                    on_commit_once(hook)
    assert ran == [1] and len(hooks) == 1


def test_a_hook_waits_once_and_survives_a_rolled_back_savepoint(django_capture_on_commit_callbacks):
    ran: list[int] = []

    def hook() -> None:
        ran.append(1)

    with django_capture_on_commit_callbacks(execute=True) as hooks:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    on_commit_once(hook)
                    raise RuntimeError("this change rolls back, its hook with it")
            except RuntimeError:
                pass
            on_commit_once(hook)  # the first one is gone: this change registers its own
            on_commit_once(hook)  # and this one finds it waiting
    assert ran == [1] and len(hooks) == 1


def test_a_hook_that_ran_is_registered_again(django_capture_on_commit_callbacks):
    """A test's captureOnCommitCallbacks runs hooks without clearing them: the next change still gets
    its own."""
    ran: list[int] = []

    def hook() -> None:
        ran.append(1)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            on_commit_once(hook)
    assert ran == [1, 1]
