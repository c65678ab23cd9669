"""The ``gouvernail`` command as a pipeline runs it: a subprocess against a live server, exit codes.

``evaluate`` and ``mlflow sync`` are run against a small local fake of their two endpoints (their
server side is tested where it is built); the end-to-end run is the pipeline story test's.
"""

import json
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from governance import access_requests
from governance.models import EvaluationStatus, ModelEvaluation, ModelPolicy, ModelVersion

ROOT = Path(__file__).resolve().parents[2]


def run(*args, url=None, token=None, env_extra=None):
    """``gouvernail ARGS`` in a fresh interpreter, as the console script runs it → CompletedProcess."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if url is not None:
        env["GOUVERNAIL_URL"] = url
    if token is not None:
        env["GOUVERNAIL_TOKEN"] = token
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "governance.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gouvernail"] == "governance.cli:main"


@pytest.mark.django_db(transaction=True)
def test_clearance_check_exit_codes(live_server, requester, steward, pipeline, make_dataset):
    conf, pub = make_dataset("confidential"), make_dataset("public")
    token = Token.objects.create(user=requester).key
    url = live_server.url

    refused = run(
        "clearance",
        "check",
        "--datasets",
        f"{conf.urn},{pub.urn}",
        "--purpose",
        "training",
        url=url,
        token=token,
    )
    assert refused.returncode == 1, refused.stderr
    assert f"NO  {conf.urn}" in refused.stdout and f"ok  {pub.urn}" in refused.stdout
    assert "holds no approved access request for training" in refused.stdout

    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    # Repeated flags, one URN each, and --json (after the command) with the server's answer.
    ok = run(
        "clearance",
        "check",
        "--datasets",
        conf.urn,
        "--datasets",
        pub.urn,
        "--purpose",
        "training",
        "--json",
        url=url,
        token=token,
    )
    assert ok.returncode == 0, ok.stderr
    answer = json.loads(ok.stdout)
    assert answer["allowed"] is True and [d["urn"] for d in answer["datasets"]] == [conf.urn, pub.urn]

    # A pipeline account asks for the human, with --url and --token flags instead of the environment.
    bot = Token.objects.create(user=pipeline).key
    for_human = run(
        "--url",
        url,
        "--token",
        bot,
        "clearance",
        "check",
        "--datasets",
        conf.urn,
        "--purpose",
        "training",
        "--principal",
        requester.username,
    )
    assert for_human.returncode == 0, for_human.stderr
    assert f"{requester.username} is cleared for training" in for_human.stdout


@pytest.mark.django_db(transaction=True)
def test_clearance_check_errors_exit_2(live_server, requester, make_dataset):
    conf = make_dataset("confidential")
    token = Token.objects.create(user=requester).key
    url = live_server.url
    cases = {
        "unknown": run(
            "clearance",
            "check",
            "--datasets",
            "dataset:s3://lake:nope",
            "--purpose",
            "training",
            url=url,
            token=token,
        ),
        "malformed": run(
            "clearance", "check", "--datasets", "nonsense", "--purpose", "training", url=url, token=token
        ),
        "401": run(
            "clearance", "check", "--datasets", conf.urn, "--purpose", "training", url=url, token="bad"
        ),
        "403": run(
            "clearance",
            "check",
            "--datasets",
            conf.urn,
            "--purpose",
            "training",
            "--principal",
            "someone",
            url=url,
            token=token,
        ),
        "down": run(
            "clearance",
            "check",
            "--datasets",
            conf.urn,
            "--purpose",
            "training",
            "--timeout",
            "3",
            url="http://127.0.0.1:9",
            token=token,
        ),
        "no url": run("clearance", "check", "--datasets", conf.urn, "--purpose", "training", token=token),
        "no token": run("clearance", "check", "--datasets", conf.urn, "--purpose", "training", url=url),
        "deployment without models": run(
            "clearance", "check", "--datasets", conf.urn, "--purpose", "deployment", url=url, token=token
        ),
        "both": run("clearance", "check", "--purpose", "training", url=url, token=token),
        "bad purpose": run(
            "clearance", "check", "--datasets", conf.urn, "--purpose", "fun", url=url, token=token
        ),
    }
    assert {name: r.returncode for name, r in cases.items()} == dict.fromkeys(cases, 2)
    assert "Unknown dataset: dataset:s3://lake:nope" in cases["unknown"].stderr
    assert "(400)" in cases["malformed"].stderr and "nonsense" in cases["malformed"].stderr
    assert "(401)" in cases["401"].stderr and "(403)" in cases["403"].stderr
    assert "Cannot reach Gouvernail" in cases["down"].stderr
    assert "GOUVERNAIL_URL" in cases["no url"].stderr and "GOUVERNAIL_TOKEN" in cases["no token"].stderr
    assert "models" in cases["deployment without models"].stderr
    assert all(not r.stdout for r in cases.values())  # nothing a pipeline could take for an answer
    as_json = run(
        "clearance",
        "check",
        "--datasets",
        "nonsense",
        "--purpose",
        "training",
        "--json",
        url=url,
        token=token,
    )
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["status"] == 400


@pytest.mark.django_db(transaction=True)
def test_register_then_gate_the_release(live_server, owner, requester, make_dataset):
    pub, held_out, conf = make_dataset("public"), make_dataset("public"), make_dataset("confidential")
    token = Token.objects.create(user=owner).key
    url = live_server.url
    reg = run(
        "models",
        "register",
        "--namespace",
        "mlflow://ml:5000",
        "--name",
        "scorer",
        "--version",
        "3",
        "--trained-on",
        pub.urn,
        "--run-id",
        "r-1",
        "--json",
        url=url,
        token=token,
    )
    assert reg.returncode == 0, reg.stderr
    mv = ModelVersion.objects.get(pk=json.loads(reg.stdout)["id"])
    assert mv.model.owner == owner and mv.run_id == "r-1" and mv.cleared

    again = run(
        "models",
        "register",
        "--namespace",
        "mlflow://ml:5000",
        "--name",
        "scorer",
        "--version",
        "3",
        "--trained-on",
        pub.urn,
        url=url,
        token=token,
    )
    assert again.returncode == 2 and "(409)" in again.stderr
    unknown = run(
        "models",
        "register",
        "--namespace",
        "ml",
        "--name",
        "x",
        "--version",
        "1",
        "--trained-on",
        "dataset:s3://lake:nope@1",
        url=url,
        token=token,
    )
    assert unknown.returncode == 2 and "trained_on" in unknown.stderr
    not_cleared = run(
        "models",
        "register",
        "--namespace",
        "ml",
        "--name",
        "y",
        "--version",
        "1",
        "--trained-on",
        conf.urn,
        "--require-cleared",
        url=url,
        token=Token.objects.create(user=requester).key,
    )
    assert not_cleared.returncode == 1 and "NOT cleared" in not_cleared.stdout

    ModelPolicy.objects.create(model=mv.model, min_accuracy=0.8, require_independent_evaluation=True)
    urn = "model:mlflow://ml:5000:scorer@3"
    gate = run("clearance", "check", "--models", urn, "--purpose", "deployment", url=url, token=token)
    assert gate.returncode == 1, gate.stderr
    assert f"NO  {urn}" in gate.stdout and "no succeeded evaluation" in gate.stdout

    ModelEvaluation.objects.create(
        model_version=mv,
        dataset_urn=held_out.urn,
        version_number=1,
        label_column="y",
        prediction_column="p",
        status=EvaluationStatus.SUCCEEDED,
        overall={"accuracy": 0.91},
        finished_at=timezone.now(),
    )
    gate = run("clearance", "check", "--models", urn, "--purpose", "deployment", url=url, token=token)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    unknown_model = run(
        "clearance", "check", "--models", "model:ml:nope", "--purpose", "deployment", url=url, token=token
    )
    assert unknown_model.returncode == 2 and "Unknown model" in unknown_model.stderr


class _Fake:
    """The evaluation and MLflow sync endpoints, answering from a script of job states."""

    def __init__(self, states: list[dict]):
        self.states, self.requests = states, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(
                    (self.command, self.path, body and json.loads(body), self.headers["Authorization"])
                )
                state = fake.states.pop(0) if len(fake.states) > 1 else fake.states[0]
                raw = json.dumps(state).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):  # noqa: N802
                self._answer(202)

            def do_GET(self):  # noqa: N802
                self._answer(200)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    made = []

    def make(states):
        made.append(_Fake(states))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_evaluate_waits_for_the_worker(fake):
    server = fake(
        [
            {"id": 9, "status": "queued"},
            {"id": 9, "status": "running"},
            # As API.md writes the evaluation's answer: no "id" in it.
            {"status": "succeeded", "overall": {"accuracy": 0.9}, "warnings": ["overlaps training"]},
        ]
    )
    args = [
        "evaluate",
        "--model",
        "5",
        "--dataset",
        "dataset:s3://lake:preds@2",
        "--label-column",
        "y",
        "--prediction-column",
        "p",
        "--score-column",
        "s",
        "--positive-label",
        "1",
        "--wait",
        "--poll-interval",
        "0.01",
    ]
    done = run(*args, url=server.url, token="t0k")
    assert done.returncode == 0, done.stderr
    assert "Evaluation 9 of model 5: succeeded." in done.stdout and "overlaps training" in done.stdout
    post, *polls = server.requests
    assert post[:2] == ("POST", "/api/v1/models/5/evaluations") and post[3] == "Token t0k"
    assert post[2] == {
        "dataset": "dataset:s3://lake:preds@2",
        "label_column": "y",
        "prediction_column": "p",
        "score_column": "s",
        "positive_label": 1,
    }
    assert [p[:2] for p in polls] == [("GET", "/api/v1/models/5/evaluations/9")] * 2

    failed = fake([{"id": 3, "status": "queued"}, {"id": 3, "status": "failed", "error": "no column 'y'"}])
    out = run(*args, url=failed.url, token="t0k")
    assert out.returncode == 1 and "no column 'y'" in out.stdout
    stuck = fake([{"id": 4, "status": "running"}])
    out = run(*args, "--wait-timeout", "0.2", url=stuck.url, token="t0k")
    assert out.returncode == 2 and "Still running" in out.stderr


def test_mlflow_sync(fake):
    server = fake(
        [
            {"id": 2, "status": "pending"},
            {"id": 2, "status": "partial", "seen": 3, "errors": [{"message": "boom"}]},
        ]
    )
    out = run("mlflow", "sync", "--wait", "--poll-interval", "0.01", url=server.url, token="t")
    assert out.returncode == 1 and "partial" in out.stdout and "boom" in out.stdout
    assert [r[:2] for r in server.requests] == [
        ("POST", "/api/v1/integrations/mlflow/sync"),
        ("GET", "/api/v1/integrations/mlflow/sync/2"),
    ]
    quick = fake([{"id": 7, "status": "pending"}])
    out = run("mlflow", "sync", "--json", url=quick.url, token="t")
    assert out.returncode == 0 and json.loads(out.stdout) == {"id": 7, "status": "pending"}
