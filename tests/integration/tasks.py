"""Tasks that only the live-worker tests use (loaded into the worker with ``--include``)."""

from pathlib import Path

from celery import shared_task
from django.contrib.auth import get_user_model


@shared_task(name="tests.integration.tasks.create_user")
def create_user(username: str) -> None:
    """Write a row, so the test sees the worker used the same database."""
    get_user_model().objects.get_or_create(username=username)


@shared_task(name="tests.integration.tasks.block_then_create_user")
def block_then_create_user(username: str, started: str, release: str) -> None:
    """Say it started (a file), wait for the test's release file, then write a row.

    The redelivery test kills the worker while this task is blocked.
    """
    Path(started).touch()
    while not Path(release).exists():
        import time

        time.sleep(0.05)
    get_user_model().objects.get_or_create(username=username)


@shared_task(name="tests.integration.tasks.revoke_access_request")
def revoke_access_request(request_id: int, username: str) -> None:
    """Revoke through the service, in the worker: a change made by another process than the web's."""
    from governance import access_requests
    from governance.models import AccessRequest

    actor = get_user_model().objects.get(username=username)
    access_requests.revoke_access_request(
        actor=actor, request=AccessRequest.objects.get(pk=request_id), comment="by worker"
    )
