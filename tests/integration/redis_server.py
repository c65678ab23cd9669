"""A private redis-server for tests that stop and start Redis, and the settings production derives
from REDIS_URL and CELERY_BROKER_URL pointed at it.

The test run's own Redis (if any) is never touched: each ``PrivateRedis`` listens on a free loopback
port with its data in a folder of the test's own.
"""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrivateRedis:
    """``redis-server`` as a subprocess: ``stop()`` and ``start()`` it as an outage would.

    ``stop(keep_data=True)`` saves its data first, so that the next ``start()`` comes back with it
    (as a Redis with persistence, or one that was only out of reach, would); ``stop()`` loses it.
    """

    folder: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, socket_connect_timeout=1, socket_timeout=5
        )

    def start(self, timeout: float = 20) -> PrivateRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--dbfilename",
                "dump.rdb",
                "--daemonize",
                "no",
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client().ping():
                    return self
            except Exception:  # not listening yet
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start: {(self.folder / 'redis.log').read_text()}"
                    )
                time.sleep(0.05)

    def stop(self, *, keep_data: bool = False) -> None:
        if self.process is None:
            return
        if keep_data:
            self.client().save()
        else:
            (self.folder / "dump.rdb").unlink(missing_ok=True)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path) -> PrivateRedis:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(folder=tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def production_settings(**environment: str) -> dict[str, Any]:
    """config/settings.py evaluated with these environment variables set, as a server would start."""
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        return runpy.run_path(str(ROOT / "config" / "settings.py"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def celery_broker(url: str):
    """This process's Celery app publishing to ``url`` (its connection pools rebuilt), then back."""
    from config.celery import app

    # Celery prefers the CELERY_BROKER_URL environment variable to its configuration.
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset(close: bool = False) -> None:
        # kombu keeps one pool per broker URL for the whole process: only the private one is closed.
        if close and app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None

    reset()
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {}
    try:
        yield app
    finally:
        reset(close=True)
        app.conf.broker_url, app.conf.broker_transport_options = saved
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
