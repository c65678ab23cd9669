"""Governance test fixtures: a requester, a second steward, a pipeline account, datasets by sensitivity."""

import pytest
from django.contrib.auth.models import Permission

from catalog import services as catalog_services
from catalog import versions as catalog_versions


@pytest.fixture
def requester(make_user):
    return make_user("rita_requester", email="rita@example.org")


@pytest.fixture
def steward2(make_user):
    return make_user("stan_steward", email="stan@example.org")


@pytest.fixture
def pipeline(make_user):
    """A pipeline's service account: allowed to ask clearance on behalf of the human it runs for."""
    user = make_user("pipeline_bot")
    user.user_permissions.add(Permission.objects.get(codename="check_clearance_for_others"))
    return user


@pytest.fixture
def make_dataset(owner, steward, steward2):
    counter = {"n": 0}

    def make(sensitivity: str = "confidential", *, name: str | None = None, stewards=None, **extra):
        counter["n"] += 1
        return catalog_services.create_dataset(
            actor=owner,
            namespace="s3://lake",
            name=name or f"warehouse/{sensitivity}_{counter['n']}",
            sensitivity=sensitivity,
            stewards=[u.username for u in (stewards if stewards is not None else [steward, steward2])],
            **extra,
        )

    return make


def lineage_event(*, job: str, inputs, outputs, run_id: str | None = None) -> dict:
    """A minimal OpenLineage COMPLETE RunEvent: ``job`` read ``inputs`` and wrote ``outputs`` (datasets or dicts)."""
    import uuid

    def ref(d):
        return d if isinstance(d, dict) else {"namespace": d.namespace, "name": d.name}

    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-25T10:00:00Z",
        "producer": "https://example.org/gouvernail-tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": "pipelines", "name": job},
        "inputs": [ref(d) for d in inputs],
        "outputs": [ref(d) for d in outputs],
    }


@pytest.fixture
def derive(owner, api_client_for):
    """Record through the lineage API that a job derived ``output`` from ``inputs``."""

    def make(output, *inputs, job: str | None = None):
        event = lineage_event(job=job or f"derive_{output.name}", inputs=inputs, outputs=[output])
        r = api_client_for(owner).post("/api/v1/lineage", event, format="json")
        assert r.status_code == 201, r.content

    return make


def credit_csv(rows: int = 200, *, seed: int = 1, bias: float = 0.15) -> str:
    """A credit-decision table whose approval rate differs by ``bias`` between the two genders."""
    import random

    rnd = random.Random(seed)
    lines = ["id,age,income,gender,email,approved"]
    for i in range(rows):
        gender = "M" if i % 2 else "F"
        approved = int(rnd.random() < (0.4 + bias if gender == "M" else 0.4))
        lines.append(
            f"{i},{rnd.randint(18, 80)},{rnd.randint(1000, 9000)},{gender},user{i}@example.org,{approved}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def add_version(data_root, owner, django_capture_on_commit_callbacks):
    """add_version(dataset, csv_text) → the version, stored through catalog and profiled for real (eager)."""
    counter = {"n": 0}

    def add(dataset, content: str):
        counter["n"] += 1
        path = data_root / f"{counter['n']}-data.csv"
        path.write_text(content)
        with django_capture_on_commit_callbacks(execute=True):
            version, _ = catalog_versions.add_version_from_uri(
                actor=owner, dataset=dataset, uri=path.as_uri()
            )
        version.refresh_from_db()
        return version

    return add


@pytest.fixture(autouse=True)
def _audit_anchor_per_test(settings, tmp_path):
    """Each test anchors the audit chain in a file of its own (governance/audit_anchor.py)."""
    settings.AUDIT_ANCHOR_PATH = str(tmp_path / "audit-anchors.jsonl")


@pytest.fixture
def make_receiver(settings):
    """make_receiver(answers=[500, 200], ...) → a started local HTTP receiver (http_receiver.py), stopped
    at the end of the test. Loopback webhooks are allowed meanwhile (WEBHOOK_ALLOW_PRIVATE)."""
    from governance.tests.http_receiver import Receiver

    settings.WEBHOOK_ALLOW_PRIVATE = True
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
