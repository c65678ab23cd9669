"""Who may record what in the graph that clearance follows (QA G4, G5)."""

import pytest
from django.db import connection

from catalog import services as catalog_services
from lineage.models import LineageEvent, Node
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"


def _post(client, body):
    return client.post(URL, body, format="json")


def test_only_the_recorder_the_owners_it_names_or_staff_post_runs_of_a_job(
    owner, outsider, steward, staff, api_client_for
):
    first = run_event(
        "build_features",
        inputs=[ds("pg://crm", "raw.customers")],
        outputs=[ds("s3://lake", "features/churn")],
    )
    first["job"]["facets"] = {"ownership": facet(owners=[{"name": f"user:{steward.username}"}])}
    assert _post(api_client_for(owner), first).status_code == 201
    assert Node.objects.get(key="job:pipelines:build_features").recorded_by == owner.username

    # Someone else posts a run of it that reads nothing: refused, nothing stored.
    forged = run_event("build_features", inputs=[], outputs=[ds("s3://lake", "features/churn")])
    before = LineageEvent.objects.count()
    r = _post(api_client_for(outsider), forged)
    assert r.status_code == 403 and owner.username in r.json()["detail"]
    assert LineageEvent.objects.count() == before
    # The edge from the source is still there.
    upstream = api_client_for(outsider).get(URL, {"nodeId": "dataset:s3://lake:features/churn", "depth": 2})
    assert "dataset:pg://crm:raw.customers" in {n["id"] for n in upstream.json()["graph"]}

    # The recorder, an owner named by the job's ownership facet, and staff may.
    for user in (owner, steward, staff):
        again = run_event("build_features", inputs=[ds("pg://crm", "raw.customers")])
        assert _post(api_client_for(user), again).status_code == 201, user
    # A job of one's own is anyone's to start.
    assert _post(api_client_for(outsider), run_event("my_own_job")).status_code == 201


def test_a_job_waiting_for_the_fold_is_its_first_posters(
    settings, owner, outsider, api_client_for, monkeypatch
):
    from lineage import services

    settings.LINEAGE_APPLY = "deferred"
    monkeypatch.setattr(services, "request_fold", lambda: None)  # the folder has not come round yet
    assert (
        _post(api_client_for(owner), run_event("nightly", outputs=[ds("s3://lake", "x")])).status_code == 201
    )
    assert not Node.objects.filter(key="job:pipelines:nightly").exists()
    assert _post(api_client_for(outsider), run_event("nightly")).status_code == 403


def test_declaring_a_curated_dataset_a_model_needs_the_right_to_change_it(owner, outsider, api_client_for):
    raw = catalog_services.create_dataset(
        actor=owner, namespace="pg://crm", name="raw.patients", sensitivity="restricted"
    )
    as_model = ds("pg://crm", "raw.patients", datasetType=facet(datasetType="MODEL"))
    _post(api_client_for(owner), run_event("load", outputs=[ds("pg://crm", "raw.patients")]))
    r = _post(api_client_for(outsider), run_event("make_model", outputs=[as_model]))
    assert r.status_code == 201  # the event is valid and kept in the record
    node = Node.objects.get(dataset_id=raw.pk)
    assert node.kind == "DATASET" and node.key == "dataset:pg://crm:raw.patients"
    # Its owner may.
    _post(api_client_for(owner), run_event("train", outputs=[as_model]))
    assert Node.objects.get(dataset_id=raw.pk).kind == "MODEL"


def test_a_model_that_stands_for_a_catalog_dataset_is_still_that_dataset_upstream(owner, api_client_for):
    from lineage.selectors import upstream_datasets

    catalog_services.create_dataset(
        actor=owner, namespace="pg://crm", name="raw.visits", sensitivity="restricted"
    )
    client = api_client_for(owner)
    _post(
        client, run_event("derive", inputs=[ds("pg://crm", "raw.visits")], outputs=[ds("s3://lake", "feat")])
    )
    as_model = ds("pg://crm", "raw.visits", datasetType=facet(datasetType="MODEL"))
    _post(client, run_event("declare", outputs=[as_model]))
    assert Node.objects.filter(kind="MODEL", name="raw.visits").exists()
    assert upstream_datasets(["dataset:s3://lake:feat"]) == {
        "dataset:s3://lake:feat": ["dataset:pg://crm:raw.visits"]
    }


@pytest.mark.django_db(transaction=True)
def test_migration_gives_existing_jobs_their_first_poster(owner, api_client_for):
    from django.db.migrations.executor import MigrationExecutor

    _post(api_client_for(owner), run_event("old_job"))
    executor = MigrationExecutor(connection)
    executor.migrate([("lineage", "0003_event_state")])  # drops the column: 0004 must find the poster
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("lineage", "0004_job_recorder")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Node.objects.get(key="job:pipelines:old_job").recorded_by == owner.username


def test_an_ownership_facet_does_not_hand_over_someone_elses_ownerless_dataset(
    owner, outsider, staff, api_client_for, django_capture_on_commit_callbacks
):
    """QA G7: a dataset found through lineage without an owner, made restricted by staff; a stranger's
    event naming themself its owner took it, and the audit named nobody."""
    from catalog.models import Dataset
    from governance.models import AuditRecord

    salaries = ("pg://hr", "qa5.salaries")
    _post(api_client_for(owner), run_event("load_hr", outputs=[ds(*salaries)]))
    dataset = Dataset.objects.get(namespace=salaries[0], name=salaries[1])
    assert dataset.owner_id is None
    catalog_services.update_dataset(actor=staff, dataset=dataset, sensitivity="restricted")
    claim = ds(*salaries, ownership=facet(owners=[{"name": f"user:{outsider.username}"}]))
    assert _post(api_client_for(outsider), run_event("claim", inputs=[claim])).status_code == 201
    dataset.refresh_from_db()
    assert dataset.owner_id is None

    # A pipeline naming its owner when it first registers a dataset still sets it, and the audit
    # names the poster.
    new = ds("s3://lake", "team/table", ownership=facet(owners=[{"name": f"user:{owner.username}"}]))
    with django_capture_on_commit_callbacks(execute=True):
        _post(api_client_for(outsider), run_event("register", outputs=[new]))
    registered = Dataset.objects.get(namespace="s3://lake", name="team/table")
    assert registered.owner == owner
    record = AuditRecord.objects.filter(action="dataset.changed", object_id=str(registered.pk)).get()
    assert record.actor == outsider.username and record.after == {"owner": owner.username}
