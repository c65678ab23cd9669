"""Pytest plugin for every app's tests: service detection and a real Celery worker.

Registered by the root ``conftest.py`` (``pytest_plugins``) so that it applies to ``catalog/tests``,
``profiling/tests``, ... as much as to ``tests/``.

Markers (declared in pyproject.toml) and when their tests run:

* ``postgres``    -- the test database is PostgreSQL (``DATABASE_URL=postgres://...``).
* ``integration`` -- needs a real Celery worker (the ``live_worker`` fixture) over the configured
  broker: always there on the embedded default (a broker that needs no server), and when Redis
  answers when ``CELERY_BROKER_URL`` is ``redis://``.
* ``browser``     -- chromium (``/usr/bin/chromium`` or ``$CHROMIUM_PATH``) and Playwright for
  Python are installed.

A test whose service is absent is skipped with the reason. CI sets ``GOUVERNAIL_REQUIRE=postgres,
integration,browser`` (any subset) so that a service that silently died fails the run instead of
skipping its tests.

Fixtures: ``live_worker`` (a ``celery -A config worker`` subprocess on the test database),
``services`` (what was detected), ``chromium_browser`` and ``browser_page`` (Playwright).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = float(os.environ.get("GOUVERNAIL_WORKER_READY_TIMEOUT", "90"))


# ---------------------------------------------------------------------------------------------
# Service detection


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@cache
def database_is_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@cache
def broker_url() -> str:
    from django.conf import settings

    return settings.CELERY_BROKER_URL


@cache
def broker_available() -> tuple[bool, str]:
    """(usable, why not). Brokers that need no server are always usable; Redis must answer PING."""
    url = broker_url()
    if url.startswith(("redis://", "rediss://")):
        try:
            import redis

            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping()
        except Exception as exc:  # any failure means: no usable Redis here
            return False, f"Redis broker {url} does not answer: {exc}"
        return True, ""
    if url.startswith("amqp://"):
        parts = urlsplit(url)
        if not _tcp_open(parts.hostname or "localhost", parts.port or 5672):
            return False, f"AMQP broker {url} is not reachable"
    return True, ""


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if os.path.exists(candidate) else None


@cache
def browser_available() -> tuple[bool, str]:
    if chromium_path() is None:
        return False, "chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "Playwright for Python is not installed"
    return True, ""


def _availability(marker: str) -> tuple[bool, str]:
    if marker == "postgres":
        return database_is_postgres(), "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if marker == "integration":
        return broker_available()
    if marker == "browser":
        return browser_available()
    return True, ""


def _required() -> set[str]:
    return {m.strip() for m in os.environ.get("GOUVERNAIL_REQUIRE", "").split(",") if m.strip()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    required = _required()
    for item in items:
        for marker in ("postgres", "integration", "browser"):
            if item.get_closest_marker(marker) is None:
                continue
            ok, why = _availability(marker)
            if ok:
                continue
            if marker in required:
                # CI asked for this service: a silent skip would hide a broken set-up.
                item.add_marker(pytest.mark.gouvernail_missing_service(f"GOUVERNAIL_REQUIRE={marker}: {why}"))
            else:
                item.add_marker(pytest.mark.skip(reason=why))
            break


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gouvernail_missing_service(why): set by the plugin when a required service is absent"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = item.get_closest_marker("gouvernail_missing_service")
    if missing is not None:
        pytest.fail(f"required service absent: {missing.args[0]}", pytrace=False)


@dataclass(frozen=True)
class Services:
    postgres: bool
    broker: bool
    redis: bool
    browser: bool


@cache
def redis_available() -> bool:
    """The configured Redis (REDIS_URL, else a redis:// broker) answers PING; False when none is set."""
    from django.conf import settings

    url = settings.REDIS_URL or (broker_url() if broker_url().startswith(("redis://", "rediss://")) else "")
    if not url:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except Exception:  # any failure means: no usable Redis here
        return False


@pytest.fixture(scope="session")
def services() -> Services:
    """What this run has: PostgreSQL as the test database, a usable broker, a reachable Redis, a
    browser. For a test that needs something the markers do not say: ``if not services.redis:
    pytest.skip(...)``."""
    return Services(
        postgres=database_is_postgres(),
        broker=broker_available()[0],
        redis=redis_available(),
        browser=browser_available()[0],
    )


# ---------------------------------------------------------------------------------------------
# A real Celery worker


def database_url_for(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL (as django-environ parses it) naming the database a connection is using."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(name).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "localhost"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(name, safe='')}"
    raise RuntimeError(f"live_worker does not know how to hand {engine} to a subprocess")


@dataclass
class LiveWorker:
    """A running ``celery -A config worker`` subprocess; see the ``live_worker`` fixture."""

    queue: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        """Everything the worker wrote so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = WORKER_READY_TIMEOUT) -> LiveWorker:
        logfile = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            # Its own process group: stop() reaches the pool's children too.
            start_new_session=True,
        )
        logfile.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return self
            if not self.alive:
                raise RuntimeError(f"the Celery worker exited during start-up:\n{self.log()[-5000:]}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the Celery worker was not ready after {timeout:.0f} s:\n{self.log()[-5000:]}")

    def stop(self, grace: float = 1.0) -> None:
        """Stop it: SIGQUIT (cold shutdown), then SIGKILL to the whole group after ``grace`` seconds.

        The test is over when this runs, so nothing is left to finish; Celery's own shutdown takes
        about five seconds (pool joins), which every integration test would pay at teardown.
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._reap_group()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole worker at once, as a crash or an OOM kill would (for redelivery tests)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._reap_group()
        self.process = None

    def _reap_group(self) -> None:
        # The pool's children may outlive a killed parent for a moment; they share its group.
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2) -> Any:
        """Poll predicate() until it returns something truthy; fail with the worker's log if it never does.

        This waits for an outcome; it is not a timing assertion (the timeout is only a safety net).
        Reading Django models inside the predicate is fine: each call sees the worker's commits.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if not self.alive:
                pytest.fail(f"the Celery worker died:\n{self.log()[-5000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met after {timeout:.0f} s; worker log:\n{self.log()[-5000:]}")
            time.sleep(interval)


@pytest.fixture
def live_worker_factory(transactional_db, settings, tmp_path) -> Iterator[Callable[..., LiveWorker]]:
    """Start real Celery workers on the test database; each is stopped when the test ends.

    ``live_worker_factory(concurrency=2, pool="prefork", include=("module.with.tasks",), extra_env={})``
    → a started ``LiveWorker`` (``include``: task modules that autodiscovery would not import).
    See ``live_worker`` for what they share with the test.
    """
    from django.db import connection

    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    workers: list[LiveWorker] = []
    saved = {
        "task_always_eager": app.conf.task_always_eager,
        "task_default_queue": app.conf.task_default_queue,
    }
    # Tasks queued by the test (directly or on commit) go to this test's own queue, which only
    # this test's workers consume: parallel test processes and a running dev server stay apart.
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def start(
        *,
        concurrency: int = 1,
        pool: str = "prefork",
        include: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> LiveWorker:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": database_url_for(connection.settings_dict),
                "CELERY_BROKER_URL": app.conf.broker_url or broker_url(),
                "CELERY_TASK_ALWAYS_EAGER": "0",
                # What the worker's own tasks send (an event's delivery run, recorded in a profile
                # job) goes to this test's queue too, not to a default queue nobody consumes here.
                "CELERY_TASK_DEFAULT_QUEUE": queue,
                "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "DATA_ROOTS": ",".join(str(p) for p in settings.DATA_ROOTS),
                "PYTHONUNBUFFERED": "1",
                "PROFILING_PRELOAD": "0",  # start in a second, not after importing GX
            }
        )
        env.update(extra_env or {})
        n = len(workers)
        worker = LiveWorker(
            queue=queue,
            env=env,
            log_path=tmp_path / f"celery-worker-{n}.log",
            args=[
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-n",
                f"{queue}-{n}@%h",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                # No cluster chatter: these workers are alone on their queue and must start fast.
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *(["--include", ",".join(include)] if include else []),
            ],
        )
        workers.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        app.conf.task_always_eager = saved["task_always_eager"]
        app.conf.task_default_queue = saved["task_default_queue"]
        # The filesystem broker keeps one binding file per queue; this test's queue is gone.
        control = (app.conf.broker_transport_options or {}).get("control_folder")
        if control:
            Path(control, f"{queue}.exchange").unlink(missing_ok=True)


@pytest.fixture
def live_worker(live_worker_factory) -> LiveWorker:
    """A real ``celery -A config worker`` process working for this test, stopped when it ends.

    What it shares with the test:

    * the test database (SQLite file or PostgreSQL ``test_*``), passed as ``DATABASE_URL``; hence the
      fixture brings ``transactional_db``: rows the test writes are committed, so the worker sees
      them, and ``transaction.on_commit`` hooks (which queue tasks) really fire;
    * the configured broker (embedded default or ``CELERY_BROKER_URL``) with a queue of its own,
      made the default queue for the test and for the worker (tasks its tasks send come back to
      it); tasks declared with an explicit ``queue=`` are not redirected;
    * ``MEDIA_ROOT`` and ``DATA_ROOTS`` as they are when the fixture starts (ask for ``data_root``
      before ``live_worker`` in the test's arguments if the worker must read from it).

    While it runs, ``CELERY_TASK_ALWAYS_EAGER`` is off in the test process, so ``.delay()`` and the
    catalog's signals really go through the broker. Wait for outcomes, never for time::

        @pytest.mark.integration
        def test_profile_arrives(owner, live_worker):
            version = ...  # created through catalog.services
            live_worker.wait_until(lambda: Profile.objects.filter(version=version, status="succeeded").exists())

    Works with ``live_server`` too. ``live_worker.kill()`` SIGKILLs it (redelivery tests);
    ``live_worker.log()`` returns its output. For more workers or another pool use
    ``live_worker_factory``. Each start costs a few seconds (Django and the tasks' imports): keep
    integration tests few and meaty.
    """
    return live_worker_factory()


# ---------------------------------------------------------------------------------------------
# A browser


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's chromium driven by Playwright (``playwright install`` cannot download browsers here)."""
    ok, why = browser_available()
    if not ok:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test
    # (and live_server) would otherwise be refused as "async unsafe".
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # CI runs as root, where chromium's sandbox cannot start.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A fresh browser context and page per test (cookies do not leak between tests)."""
    context = chromium_browser.new_context()
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
