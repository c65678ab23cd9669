"""Who may record what in the graph that clearance follows (QA G4, G5)."""

import pytest

from catalog import services as catalog_services
from lineage.models import LineageEvent, Node
from lineage.tests.events import ds, facet, run_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"


def _post(client, body):
    return client.post(URL, body, format="json")


def _upstream_of(client, node: str) -> set[str]:
    answer = client.get(URL, {"nodeId": node, "depth": 2, "direction": "upstream"}).json()
    return {n["id"] for n in answer["graph"]}


def test_a_run_that_drops_edges_above_restricted_data_keeps_them_unless_its_poster_may(
    owner, outsider, staff, api_client_for
):
    """QA G4: a stranger's run of the pipeline's job reading nothing (dated later, so the latest run)
    took the restricted source out of the features' upstream, and clearance then allowed them."""
    raw = catalog_services.create_dataset(
        actor=owner, namespace="pg://crm", name="raw.customers", sensitivity="restricted"
    )
    features = "dataset:s3://lake:features/churn"
    first = run_event(
        "build_features",
        inputs=[ds("pg://crm", "raw.customers")],
        outputs=[ds("s3://lake", "features/churn")],
    )
    assert _post(api_client_for(owner), first).status_code == 201

    forged = run_event(
        "build_features",
        inputs=[],
        outputs=[ds("s3://lake", "features/churn")],
        event_time="2099-01-01T00:00:00Z",
    )
    before = LineageEvent.objects.count()
    assert _post(api_client_for(outsider), forged).status_code == 201  # kept: the record is the record
    assert LineageEvent.objects.count() == before + 1
    assert raw.urn in _upstream_of(api_client_for(outsider), features)  # but the edge stays

    # The source's owner (or staff) may take it away: the job really stopped reading it.
    stop = run_event(
        "build_features",
        inputs=[],
        outputs=[ds("s3://lake", "features/churn")],
        event_time="2099-01-02T00:00:00Z",
    )
    assert _post(api_client_for(staff), stop).status_code == 201
    assert raw.urn not in _upstream_of(api_client_for(owner), features)


def test_nobody_squats_a_pipelines_job_name(owner, outsider, api_client_for):
    """QA G15: with jobs owned by their first poster, a stranger posting the name first had the real
    pipeline's lineage refused. Every event is taken; what it adds counts."""
    assert _post(api_client_for(outsider), run_event("nightly_build")).status_code == 201
    real = run_event(
        "nightly_build", inputs=[ds("pg://crm", "raw.orders")], outputs=[ds("s3://lake", "orders")]
    )
    assert _post(api_client_for(owner), real).status_code == 201
    assert "dataset:pg://crm:raw.orders" in _upstream_of(api_client_for(owner), "dataset:s3://lake:orders")


def test_edges_above_public_data_follow_the_latest_run_whoever_posts_it(owner, outsider, api_client_for):
    _post(
        api_client_for(owner),
        run_event("copy", inputs=[ds("s3://open", "a")], outputs=[ds("s3://open", "b")]),
    )
    later = run_event(
        "copy",
        inputs=[ds("s3://open", "c")],
        outputs=[ds("s3://open", "b")],
        event_time="2026-02-01T00:00:00Z",
    )
    assert _post(api_client_for(outsider), later).status_code == 201
    assert _upstream_of(api_client_for(owner), "dataset:s3://open:b") >= {"dataset:s3://open:c"}
    assert "dataset:s3://open:a" not in _upstream_of(api_client_for(owner), "dataset:s3://open:b")


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
    from lineage.walks import upstream_datasets

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


def test_a_documentation_facet_does_not_describe_a_curated_dataset_for_its_stewards(
    owner, outsider, api_client_for
):
    """QA G24: any user filled a curated dataset's empty description through a documentation facet."""
    curated = catalog_services.create_dataset(actor=owner, namespace="pg://crm", name="raw.accounts")
    doc = ds("pg://crm", "raw.accounts", documentation=facet(description="pwned"))
    _post(api_client_for(outsider), run_event("describe", inputs=[doc]))
    curated.refresh_from_db()
    assert curated.description == ""
    # Lineage's own datasets still take it.
    _post(
        api_client_for(outsider),
        run_event("describe2", inputs=[ds("s3://lake", "found", documentation=facet(description="ok"))]),
    )
    from catalog.models import Dataset

    assert Dataset.objects.get(namespace="s3://lake", name="found").description == "ok"
