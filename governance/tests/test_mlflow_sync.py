"""MLflow sync against a real MLflow store (an SQLite file MLflow's own client writes): registered
model versions become models here, their runs' dataset inputs are matched to the catalog, the
clearance is recorded and written back as tags; a second sync writes nothing; MLflow down or
answering 500 fails clearly with nothing stored."""

import hashlib
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from mlflow import MlflowClient

from catalog.models import OutboxMessage
from governance import audit, events, mlflow_jobs, mlflow_sync
from governance.models import AuditRecord, Event, MlflowOrigin, MlflowSync, ModelVersion, RegisteredModel
from governance.tests.conftest import credit_csv
from governance.tests.mlflow_store import Failing, closed_port, frame, log_model
from lineage.models import LineageEvent, Node, Run

pytestmark = pytest.mark.django_db

SITE = "https://gouvernail.example.org"


@pytest.fixture
def mlflow_uri(tmp_path, settings, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    settings.MLFLOW_TRACKING_URI = uri
    settings.SITE_URL = SITE
    # A server that is down must fail the test's sync at once, not after MLflow's minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return uri


def _tags(uri: str, name: str, version: str = "1") -> dict:
    return MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(name, version).tags


def _here(name: str, version: str = "1") -> ModelVersion:
    return ModelVersion.objects.get(model__namespace="mlflow://localhost", model__name=name, version=version)


def test_versions_become_models_with_matched_inputs_clearance_and_tags(mlflow_uri, make_dataset, add_version):
    internal = make_dataset("internal", name="train/credit.csv")
    v1 = add_version(internal, credit_csv(30))
    secret = make_dataset("confidential", name="train/secret.csv")
    add_version(secret, credit_csv(30, seed=2))
    log_model(mlflow_uri, "credit", [(frame(), "s3://lake/train/credit.csv", None)])
    # MLflow keeps one dataset per experiment, name and digest (the first source logged): other data.
    log_model(mlflow_uri, "secretive", [(frame(seed=1), "s3://lake/train/secret.csv", None)])
    log_model(mlflow_uri, "mystery", [(frame(seed=2), "s3://elsewhere/what.csv", None)])

    counts = mlflow_sync.sync()

    assert (counts.seen, counts.created, counts.unknown_inputs, counts.errors) == (3, 3, 1, [])
    credit = _here("credit")
    assert credit.cleared is True and credit.via == "mlflow"
    assert [str(i) for i in credit.inputs.all()] == [f"{internal.urn}@{v1.number}"]
    origin = credit.mlflow_origin
    assert origin.registered_name == "credit" and origin.mlflow_version == "1" and origin.run_id
    assert origin.inputs[0]["method"] == "location, version by time"
    assert _tags(mlflow_uri, "credit") == {
        "gouvernail.clearance": "cleared",
        "gouvernail.card": f"{SITE}/models/{credit.pk}/",
    }

    secretive = _here("secretive")
    assert secretive.cleared is False
    assert _tags(mlflow_uri, "secretive")["gouvernail.clearance"].startswith(f"refused: {secret.urn}: ")

    mystery = _here("mystery")
    assert mystery.cleared is False and mystery.inputs.count() == 0
    assert mystery.clearance["unknown_data"][0]["reason"].startswith("Unknown data: No catalogued dataset")
    assert mystery.mlflow_origin.unknown_inputs == 1
    assert _tags(mlflow_uri, "mystery")["gouvernail.clearance"].startswith("refused: Unknown data")
    audit = AuditRecord.objects.get(action="model.registered", object_id=str(mystery.pk))
    assert audit.via == "mlflow" and audit.after["cleared"] is False


def test_a_second_sync_writes_nothing_and_a_removed_tag_is_written_again(
    mlflow_uri, make_dataset, add_version
):
    ds = make_dataset("internal", name="train/credit.csv")
    add_version(ds, credit_csv(30))
    for name in ("a", "b", "c"):
        log_model(mlflow_uri, name, [(frame(), "s3://lake/train/credit.csv", None)])
    log_model(mlflow_uri, "a", [(frame(seed=1), "s3://nowhere/x.csv", None)])
    first = mlflow_sync.sync()
    assert (first.created, first.updated, first.unchanged) == (4, 0, 0)
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    before = {(v.name, v.version): (v.last_updated_timestamp, v.tags) for v in client.search_model_versions()}
    stamps = dict(ModelVersion.objects.values_list("pk", "updated_at"))

    with CaptureQueriesContext(connection) as queries:
        second = mlflow_sync.sync()

    assert (second.seen, second.created, second.updated, second.unchanged) == (4, 0, 0, 4)
    writes = [
        q["sql"]
        for q in queries
        if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]
    assert writes == []
    after = {(v.name, v.version): (v.last_updated_timestamp, v.tags) for v in client.search_model_versions()}
    assert after == before
    assert dict(ModelVersion.objects.values_list("pk", "updated_at")) == stamps

    client.delete_model_version_tag("b", "1", "gouvernail.card")
    third = mlflow_sync.sync()
    assert (third.updated, third.unchanged) == (1, 3)
    assert _tags(mlflow_uri, "b")["gouvernail.card"] == f"{SITE}/models/{_here('b').pk}/"


def test_a_sha256_digest_names_the_exact_version_and_a_path_names_its_version(
    mlflow_uri, make_dataset, add_version
):
    ds = make_dataset("internal", name="train/credit.csv")
    v1 = add_version(ds, credit_csv(30))
    add_version(ds, credit_csv(40, seed=3))  # the latest: matching by time alone would pick it
    other = make_dataset("public", name="uploads/other")
    ov = add_version(other, credit_csv(10, seed=5))
    sha = hashlib.sha256(credit_csv(30).encode()).hexdigest()
    assert v1.checksum == sha
    # MLflow takes digests of at most 36 characters: the pipeline logs the sha256's first 36.
    log_model(mlflow_uri, "exact", [(frame(), "s3://lake/train/credit.csv", sha[:36])])
    log_model(mlflow_uri, "by-path", [(frame(seed=1), ov.source_uri.removeprefix("file://"), None)])

    mlflow_sync.sync()

    exact = _here("exact")
    assert [str(i) for i in exact.inputs.all()] == [f"{ds.urn}@{v1.number}"]
    assert exact.mlflow_origin.inputs[0]["method"] == "checksum"
    by_path = _here("by-path")
    assert [str(i) for i in by_path.inputs.all()] == [f"{other.urn}@{ov.number}"]
    assert by_path.mlflow_origin.inputs[0]["method"] == "version's source URI"


def test_a_run_without_inputs_is_unknown_data(mlflow_uri):
    log_model(mlflow_uri, "bare", [])
    counts = mlflow_sync.sync()
    bare = _here("bare")
    assert counts.unknown_inputs == 1 and bare.cleared is False
    assert "logged no dataset inputs" in bare.clearance["unknown_data"][0]["reason"]
    assert "logged no dataset inputs" in _tags(mlflow_uri, "bare")["gouvernail.clearance"]


def test_prompts_are_not_models(mlflow_uri):
    """MLflow keeps prompts as registered models, and its version search lists theirs: a prompt is no
    model trained on data, so the sync leaves it alone (no model here, no tag there, no error)."""
    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    client.register_prompt(name="greeting", template="Hello, {{name}}!")
    log_model(mlflow_uri, "churn", [])
    counts = mlflow_sync.sync()
    assert (counts.seen, counts.created, counts.errors) == (1, 1, [])
    assert list(ModelVersion.objects.values_list("model__name", flat=True)) == ["churn"]
    assert "gouvernail.clearance" not in client.get_prompt_version("greeting", 1).tags
    assert mlflow_sync.sync().errors == []  # and no failing tag write on the next sync either


def test_mlflow_down_fails_the_job_clearly_and_stores_nothing(mlflow_uri, settings, staff):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(mlflow_sync.SyncFailed, match="could not be read"):
        mlflow_sync.sync()
    job = MlflowSync.objects.create(tracking_uri=settings.MLFLOW_TRACKING_URI)
    assert mlflow_jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and "could not be read" in job.errors[0]["message"]
    assert not ModelVersion.objects.exists() and not MlflowOrigin.objects.exists()


def test_mlflow_answering_500_fails_clearly(mlflow_uri, settings):
    with Failing() as url:
        settings.MLFLOW_TRACKING_URI = url
        with pytest.raises(mlflow_sync.SyncFailed) as failed:
            mlflow_sync.sync()
    assert f"MLflow at {url} could not be read" in str(failed.value)
    assert not ModelVersion.objects.exists()


def test_namespace_of_tracking_uris():
    assert (
        mlflow_sync.namespace_for("https://user:pw@mlflow.internal:5000/") == "mlflow://mlflow.internal:5000"
    )
    assert mlflow_sync.namespace_for("http://mlflow.internal") == "mlflow://mlflow.internal"
    assert mlflow_sync.namespace_for("sqlite:////srv/mlflow.db") == "mlflow://localhost"
    assert mlflow_sync.namespace_for("/srv/mlruns") == "mlflow://localhost"
    assert mlflow_sync.shown_uri("https://user:pw@mlflow.internal:5000/x") == "https://mlflow.internal:5000/x"


@contextmanager
def refusing_origin_of(name: str):
    """The database itself refuses to store the MLflow origin of model ``name`` (a trigger): a write
    that fails for one version of a page, as a constraint or a full disk would."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "CREATE FUNCTION refuse_origin() RETURNS trigger AS $$ BEGIN IF NEW.registered_name = %s"
                " THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                [name],
            )
            cur.execute(
                "CREATE TRIGGER refuse_origin BEFORE INSERT ON governance_mlfloworigin"
                " FOR EACH ROW EXECUTE FUNCTION refuse_origin()"
            )
        else:
            cur.execute(
                "CREATE TRIGGER refuse_origin BEFORE INSERT ON governance_mlfloworigin"
                f" WHEN NEW.registered_name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute(
                "DROP TRIGGER refuse_origin ON governance_mlfloworigin"
                if connection.vendor == "postgresql"
                else "DROP TRIGGER refuse_origin"
            )
            if connection.vendor == "postgresql":
                cur.execute("DROP FUNCTION refuse_origin()")


def _registered(name: str) -> tuple[ModelVersion, dict]:
    """A version synced from MLflow and what was stored with it: its lineage, audit record and event."""
    mv = _here(name)
    return mv, {
        "origin": MlflowOrigin.objects.filter(model_version=mv).exists(),
        "run": Run.objects.filter(job__key=f"job:mlflow://localhost:train:{name}").count(),
        "node": mv.lineage_node == f"model:mlflow://localhost:{name}"
        and Node.objects.filter(key=mv.lineage_node).exists(),
        "audit": AuditRecord.objects.filter(action="model.registered", object_id=str(mv.pk)).count(),
        "event": Event.objects.filter(name="model.registered", subject=f"model:{mv.pk}").count(),
    }


def test_a_version_whose_write_fails_is_rolled_back_alone_and_its_page_mates_are_stored(
    mlflow_uri, make_dataset, add_version
):
    ds = make_dataset("internal", name="train/credit.csv")
    add_version(ds, credit_csv(30))
    for name in ("a", "b", "c"):  # one page: registered together, until b's origin is refused
        log_model(mlflow_uri, name, [(frame(), "s3://lake/train/credit.csv", None)])

    with refusing_origin_of("b"):
        counts = mlflow_sync.sync()

    assert (counts.seen, counts.created) == (3, 2)
    assert [(e["model"], e["version"]) for e in counts.errors] == [("b", "1")]
    assert (
        "Not stored" in counts.errors[0]["message"] and "refused by the test" in counts.errors[0]["message"]
    )
    for name in ("a", "c"):
        mv, stored = _registered(name)
        assert stored == {"origin": True, "run": 1, "node": True, "audit": 1, "event": 1}
        assert mv.cleared is True and [str(i) for i in mv.inputs.all()] == [f"{ds.urn}@1"]
        assert _tags(mlflow_uri, name)["gouvernail.card"] == f"{SITE}/models/{mv.pk}/"
    # Nothing of b: no model, no lineage, no audit record, no event, no tags in MLflow.
    assert not RegisteredModel.objects.filter(name="b").exists()
    assert not Node.objects.filter(
        key__in=["model:mlflow://localhost:b", "job:mlflow://localhost:train:b"]
    ).exists()
    assert not LineageEvent.objects.filter(job_key="job:mlflow://localhost:train:b").exists()
    assert not AuditRecord.objects.filter(after__model="mlflow://localhost/b").exists()
    assert Event.objects.filter(name="model.registered").count() == 2
    assert _tags(mlflow_uri, "b") == {}
    assert audit.first_break() is None

    again = mlflow_sync.sync()  # the database takes it now: the next sync stores it
    assert (again.created, again.unchanged, again.errors) == (1, 2, [])
    assert _registered("b")[1] == {"origin": True, "run": 1, "node": True, "audit": 1, "event": 1}
    assert _tags(mlflow_uri, "b")["gouvernail.clearance"] == "cleared"
    assert audit.first_break() is None


def test_a_page_is_one_commit_with_its_after_commit_hooks_once(
    mlflow_uri, make_dataset, add_version, django_capture_on_commit_callbacks
):
    ds = make_dataset("internal", name="train/credit.csv")
    add_version(ds, credit_csv(30))
    for name in ("a", "b", "c", "d"):
        log_model(mlflow_uri, name, [(frame(), "s3://lake/train/credit.csv", None)])
    messages = OutboxMessage.objects.filter(task=events.DELIVER_TASK).count()

    with django_capture_on_commit_callbacks() as hooks:
        counts = mlflow_sync.sync()

    assert counts.created == 4 and Event.objects.filter(name="model.registered").count() == 4
    # One message wakes the worker for the page's four events; the clearance cache is made stale
    # once, the lineage graph said to have changed once: three hooks, not three per version.
    assert OutboxMessage.objects.filter(task=events.DELIVER_TASK).count() == messages + 1
    assert len(hooks) == 3
    assert AuditRecord.objects.filter(action="model.registered").count() == 4 and audit.first_break() is None
