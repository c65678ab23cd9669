"""A database that cannot be reached, refuses new clients or has no free pooled connection answers
503 with Retry-After (the API's JSON shape under /api/), never a 500; and PostgreSQL connections
come from a bounded pool per process (config/settings.py, docs/operations.md).

The servers here are real processes, started on a free port with only the environment each case
gives: gunicorn with threads where the database is down from the start (Django's development
server will not start without its database), and the development server, threaded as ``dev.py up``
runs it, where many threads share the pool.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from tests.integration.plugin import database_url_for

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _command(program: str, port: int) -> list[str]:
    if program == "gunicorn":
        bind = f"127.0.0.1:{port}"
        return [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", bind, "--threads", "8", "-w", "1"]
    return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]


class Server:
    def __init__(self, env: dict[str, str], log: Path, program: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        base_env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL") and not k.startswith("DJANGO_")
        }
        with log.open("wb") as fh:
            self.proc = subprocess.Popen(
                _command(program, self.port),
                cwd=ROOT,
                env={**base_env, "PYTHONUNBUFFERED": "1", **env},
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)


@pytest.fixture
def server(tmp_path):
    started = []

    def start(program: str = "runserver", **env: str) -> Server:
        log = tmp_path / f"web{len(started)}.log"
        s = Server({"GOUVERNAIL_VAR_DIR": str(tmp_path / "var"), **env}, log, program)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def _assert_503(status: int, headers: dict[str, str], body: bytes, *, api: bool) -> None:
    assert status == 503, body[:500]
    assert int(headers["Retry-After"]) > 0
    if api:
        answer = json.loads(body)
        assert "unavailable" in answer["detail"] and answer["errors"] == {}
    else:
        assert b"unavailable" in body


def test_unreachable_database_answers_503_on_the_api_and_the_pages(server):
    # Nothing listens on port 1: every connection attempt fails at once.
    s = server("gunicorn", DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", DB_POOL_TIMEOUT="2")
    _assert_503(*_get(f"{s.base}/api/v1/datasets/", {"Authorization": "Token abc"}), api=True)
    # A signed-in browser: the session is read from the database inside the view.
    _assert_503(*_get(f"{s.base}/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz123456"}), api=False)


def test_the_pool_setting_shapes_the_connection(run_python, tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['OPTIONS'].get('pool'), d['CONN_MAX_AGE'])"
    )
    base = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GOUVERNAIL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    }
    pooled = run_python(code, {**base, "DB_POOL_MAX_SIZE": "3", "DB_POOL_TIMEOUT": "4"})
    assert pooled.returncode == 0, pooled.stderr
    assert "'max_size': 3" in pooled.stdout and "'timeout': 4.0" in pooled.stdout
    assert pooled.stdout.split()[-1] == "0"  # the pool keeps connections, not CONN_MAX_AGE
    unpooled = run_python(code, {**base, "DB_POOL_MAX_SIZE": "0"})
    assert unpooled.returncode == 0, unpooled.stderr
    assert unpooled.stdout.split() == ["None", "60"]


@pytest.mark.postgres
def test_postgresql_refusing_new_clients_answers_503(server, django_db_blocker):
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS gv_no_connections")
        cur.execute("CREATE ROLE gv_no_connections LOGIN CONNECTION LIMIT 0")
    try:
        s = server("gunicorn", DATABASE_URL="postgres://gv_no_connections@127.0.0.1:5432/test")
        _assert_503(*_get(f"{s.base}/api/v1/datasets/", {"Authorization": "Token abc"}), api=True)
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS gv_no_connections")


@pytest.mark.postgres
def test_many_threads_share_a_bounded_pool_without_a_5xx(server, transactional_db, django_user_model):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=django_user_model.objects.create_user("pool_pipeline")).key
    url = database_url_for(connection.settings_dict) + "?application_name=gv_pool_test"
    s = server(DATABASE_URL=url, DB_POOL_MAX_SIZE="2", DB_POOL_TIMEOUT="30")
    statuses: Counter[int] = Counter()
    peak = 0
    done = threading.Event()

    def client() -> None:
        for _ in range(15):
            status, _, _ = _get(f"{s.base}/api/v1/datasets/", {"Authorization": f"Token {token}"})
            statuses[status] += 1

    def watch() -> None:
        nonlocal peak
        import psycopg

        with psycopg.connect(
            database_url_for(connection.settings_dict).replace("postgres://", "postgresql://")
        ) as c:
            while not done.is_set():
                n = c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gv_pool_test'")
                peak = max(peak, n.fetchone()[0])
                time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=client) for _ in range(8)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    done.set()
    watcher.join()
    assert statuses == Counter({200: 8 * 15})
    assert 1 <= peak <= 2
