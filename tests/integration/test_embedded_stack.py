"""The embedded default as a newcomer runs it: a web server and a Celery worker process, no server to
install, talking through SQLite and the broker that needs none, in a folder of their own.

Not on the test database: this is the stack `python3 dev.py up` starts (minus the demo data), driven
over HTTP the way a training pipeline would.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # Once per CI round is enough: the PostgreSQL + Redis pass would run this very same stack again.
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL") or os.environ.get("CELERY_BROKER_URL")),
        reason="runs in the embedded-default pass (DATABASE_URL / CELERY_BROKER_URL unset)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, procs, logs, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"{p.args[:4]} exited while waiting for {what}:\n{_tail(logs)}")
        time.sleep(0.3)
    pytest.fail(f"no {what} after {timeout:.0f} s:\n{_tail(logs)}")


def _tail(logs) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())


def _request(url: str, token: str, data: bytes | None = None, content_type: str | None = None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def embedded_stack(tmp_path):
    """migrate, then a worker and runserver on a fresh var folder with nothing else set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
        and not k.startswith("DJANGO_")
    }
    env.update(GOUVERNAIL_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    script = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        "u = User.objects.create_user('pipeline')\n"
        "print(Token.objects.create(user=u).key)\n"
    )
    token = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()[-1]
    port = _free_port()
    logs = [tmp_path / "worker.log", tmp_path / "web.log"]
    commands = [
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1", "-l", "INFO"],
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
    ]
    procs = []
    for cmd, log in zip(commands, logs, strict=True):
        with log.open("wb") as fh:
            procs.append(
                subprocess.Popen(
                    cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    try:
        _wait(lambda: " ready." in logs[0].read_text(errors="replace"), "ready worker", procs, logs)
        base = f"http://127.0.0.1:{port}/api/v1"
        _wait(lambda: _ping(base), "answering web server", procs, logs)
        yield base, token, procs, logs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def _ping(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/schema/", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_a_version_uploaded_over_http_is_profiled_by_the_worker(embedded_stack):
    base, token, procs, logs = embedded_stack
    status, ds = _request(
        f"{base}/datasets/",
        token,
        json.dumps(
            {"namespace": "s3://lake", "name": "churn/train", "sensitive_columns": ["gender"]}
        ).encode(),
        "application/json",
    )
    assert status == 201, ds

    rows = "".join(f"{i},{'f' if i % 2 else 'm'},{i * 0.5},user{i}@example.org\n" for i in range(200))
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="train.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nid,gender,x,email\n{rows}\r\n--{boundary}--\r\n"
    ).encode()
    status, version = _request(
        f"{base}/datasets/{ds['id']}/versions/", token, body, f"multipart/form-data; boundary={boundary}"
    )
    assert status == 201, version
    assert version["profile_status"] == "pending"

    url = f"{base}/datasets/{ds['id']}/versions/{version['number']}/profile/"
    profile = _wait(
        lambda: (p := _request(url, token)[1]).get("status") in ("succeeded", "failed") and p,
        "finished profile",
        procs,
        logs,
        timeout=180,
    )
    assert profile["status"] == "succeeded", profile.get("error")
    assert profile["row_count"] == 200
    columns = {c["name"]: c for c in profile["columns"]}
    assert "email" in columns["email"]["pii"]
    assert profile["bias"] is not None and "gender" in profile["bias"]["attributes"]
    assert "succeeded" in logs[0].read_text(errors="replace")  # the worker process ran it
