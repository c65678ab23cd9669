"""Schemathesis against the served OpenAPI schema, as CI runs it on PostgreSQL with a real worker.

A production-mode server (gunicorn, DEBUG off, deferred lineage, Redis) on the demo data, fuzzed
once as a data scientist (no staff rights) and once as staff, with a fixed seed and a bounded
number of examples per operation (GOUVERNAIL_FUZZ_EXAMPLES, 25). The run fails on any 5xx, any
status code the schema does not list and any answer whose body violates the schema. Path
parameters are bound to objects that exist, so the fuzzed bodies and queries reach real rows; the
one deletion gets a dataset of its own.

Reproduce a failure by hand: the test prints the ``st run`` command and the server's log.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.integration.plugin import database_url_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.slow]
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _objects() -> dict:
    """Real identifiers from the demo data, and a dataset that only the deletion uses."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from catalog.models import Column, Dataset
    from governance.models import AccessRequest, AuditRecord, ModelVersion
    from lineage.models import Run

    users = get_user_model().objects
    dataset = Dataset.objects.filter(versions__isnull=False).order_by("pk").first()
    victim = Dataset.objects.create(
        namespace="fuzz", name="deleted-by-the-fuzzer", owner=users.get(username="admin")
    )
    run = Run.objects.order_by("pk").first()
    return {
        "tokens": {
            who: Token.objects.get_or_create(user=users.get(username=who))[0].key
            for who in ("dan_scientist", "admin")
        },
        "dataset": dataset.pk,
        "urn": dataset.urn,
        "column": Column.objects.filter(dataset=dataset).order_by("position").first().name,
        "version": dataset.versions.order_by("number").first().number,
        "request": AccessRequest.objects.order_by("pk").first().pk,
        "audit": AuditRecord.objects.order_by("pk").first().pk,
        "model": ModelVersion.objects.order_by("pk").first().pk,
        "run": str(run.run_id) if run else "00000000-0000-0000-0000-000000000000",
        "victim": victim.pk,
    }


def _config(objects: dict, path: Path) -> Path:
    path.write_text(
        f"""
[parameters]
"path.dataset_pk" = {objects["dataset"]}
"path.number" = {objects["version"]}
"path.name" = "{objects["column"]}"
"path.ref" = "{objects["urn"]}"
"path.run_id" = "{objects["run"]}"

[[operations]]
include-path-regex = "^/api/v1/datasets/\\\\{{id\\\\}}/$"
include-method = "DELETE"
parameters = {{ "path.id" = {objects["victim"]} }}

[[operations]]
include-path-regex = "^/api/v1/datasets/\\\\{{id\\\\}}/$"
exclude-method = "DELETE"
parameters = {{ "path.id" = {objects["dataset"]} }}

[[operations]]
include-path-regex = "^/api/v1/access-requests/"
parameters = {{ "path.id" = {objects["request"]} }}

[[operations]]
include-path-regex = "^/api/v1/audit/"
parameters = {{ "path.id" = {objects["audit"]} }}

[[operations]]
include-path-regex = "^/api/v1/models/"
parameters = {{ "path.id" = {objects["model"]} }}
"""
    )
    return path


@pytest.fixture
def production_server(live_worker, tmp_path, settings):
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_TASK_DEFAULT_QUEUE": live_worker.queue,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LINEAGE_APPLY": "deferred",
        "API_WRITE_RATE": "",  # the fuzzer writes fast; the limit has tests of its own
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DATA_ROOTS": ",".join(str(p) for p in settings.DATA_ROOTS),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "2",
                "--threads",
                "4",
            ],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/schema/", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield base, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(20)


def test_schemathesis_finds_no_5xx_and_no_schema_violation(transactional_db, production_server, tmp_path):
    call_command("load_demo", "--force", "--quiet-logins", verbosity=0)
    objects = _objects()
    config = _config(objects, tmp_path / "schemathesis.toml")
    base, server_log = production_server
    examples = os.environ.get("GOUVERNAIL_FUZZ_EXAMPLES", "25")
    failures = []
    for user, token in objects["tokens"].items():
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            f"{base}/api/v1/schema/",
            "--url",
            f"{base}/api/v1",
            "-H",
            f"Authorization: Token {token}",
            "--seed",
            "1",
            "--max-examples",
            examples,
            "--checks",
            CHECKS,
            "--no-color",
            "--request-timeout",
            "60",
        ]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        summary = [line for line in result.stdout.splitlines() if "generated" in line]
        print(f"schemathesis as {user}: exit {result.returncode}; {summary[-1:] or result.stdout[-500:]}")
        if result.returncode != 0:
            failures.append(
                f"--- as {user}: {' '.join(command)}\n{result.stdout[-12000:]}\n{result.stderr[-2000:]}"
            )
    if failures:
        failures.append("--- server log (tail):\n" + server_log.read_text(errors="replace")[-6000:])
    assert not failures, "\n".join(failures)
