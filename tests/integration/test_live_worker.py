"""The live_worker fixture: a real worker process on the test database and the configured broker."""

import os
import signal

import pytest
from django.contrib.auth import get_user_model

from config.celery import app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TASKS = ("tests.integration.tasks",)
User = get_user_model()


def test_worker_runs_a_task_on_the_test_database(live_worker_factory):
    worker = live_worker_factory(include=TASKS)
    app.send_task("tests.integration.tasks.create_user", args=["made_by_worker"])

    worker.wait_until(lambda: User.objects.filter(username="made_by_worker").exists())
    assert worker.alive


def test_acks_late_task_is_redelivered_when_its_process_is_killed(live_worker_factory, tmp_path):
    """A pool process dying mid-task (OOM killer, segfault) must not lose the job: acks_late +
    reject_on_worker_lost put it back on the queue and the worker runs it again."""
    worker = live_worker_factory(include=TASKS, concurrency=1, pool="prefork")
    started, release = tmp_path / "started", tmp_path / "release"
    app.send_task(
        "tests.integration.tasks.block_then_create_user", args=["survivor", str(started), str(release)]
    )
    worker.wait_until(started.exists)

    children = _pool_children(worker.process.pid)
    assert children, worker.log()
    started.unlink()
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    # Redelivered: the task starts again in a fresh pool process.
    worker.wait_until(started.exists)
    release.touch()
    worker.wait_until(lambda: User.objects.filter(username="survivor").exists())


def _pool_children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            out.append(int(entry))
    return out


def test_services_reports_what_this_run_has(services, settings):
    assert services.postgres == settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    assert services.broker  # this module only runs when the broker answers
    if not (settings.REDIS_URL or settings.CELERY_BROKER_URL.startswith("redis")):
        assert services.redis is False  # nothing configured: nothing probed
