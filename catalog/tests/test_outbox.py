"""catalog.outbox: a message is written with its change and sent only once that commits.

Tasks run inline here (the suite's eager mode): a message that is sent has run. The broker going
down and coming back is tests/integration/test_outbox_broker.py.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from catalog import outbox
from catalog.models import OutboxMessage
from tests.integration import tasks

pytestmark = pytest.mark.django_db


def _made(username: str) -> bool:
    return get_user_model().objects.filter(username=username).exists()


def test_a_message_is_sent_once_its_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            message = outbox.enqueue(tasks.create_user, ["by_outbox"])
            assert OutboxMessage.objects.get(pk=message.pk).task == "tests.integration.tasks.create_user"
            assert not _made("by_outbox")  # nothing before the commit
    message.refresh_from_db()
    assert _made("by_outbox") and message.sent_at is not None and message.attempts == 1


def test_a_rolled_back_change_leaves_no_message(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue(tasks.create_user, ["never"])
            raise RuntimeError("the change fails")
    assert not OutboxMessage.objects.exists() and not _made("never")


def test_the_sweep_sends_what_waits_oldest_first_and_forgets_old_sent_messages(settings):
    settings.OUTBOX_KEEP_SENT_DAYS = 7
    # Written without their commit callbacks running (this test's transaction never commits):
    # as messages left unsent by a broker outage.
    waiting = [outbox.enqueue(tasks.create_user, [name]) for name in ("first", "second")]
    old = OutboxMessage.objects.create(task="tests.integration.tasks.create_user", args=["old"])
    OutboxMessage.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=8))
    assert outbox.send_pending() == 2
    assert _made("first") and _made("second") and not _made("old")
    users = get_user_model().objects
    assert users.get(username="first").pk < users.get(username="second").pk  # run in that order
    assert all(OutboxMessage.objects.get(pk=w.pk).sent_at for w in waiting)
    assert not OutboxMessage.objects.filter(pk=old.pk).exists()
    assert outbox.send_pending() == 0
