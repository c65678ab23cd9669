"""GET /api/v1/clearance: approvals, sensitivity defaults, lineage inheritance, policy conditions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance import access_requests, dataset_policies
from governance.clearance import evaluate
from governance.models import AccessRequest
from governance.tests.conftest import lineage_event

pytestmark = pytest.mark.django_db


def _approved(requester, approvers, datasets, purpose="training"):
    req = access_requests.create_access_request(
        actor=requester, datasets=[d.urn for d in datasets], purpose=purpose, justification="needed"
    )
    for a in approvers:
        req = access_requests.approve_access_request(actor=a, request=req)
    assert req.status == "approved"
    return req


def _ask(client, datasets, purpose="training", **params):
    return client.get(
        "/api/v1/clearance",
        {
            "datasets": ",".join(d if isinstance(d, str) else d.urn for d in datasets),
            "purpose": purpose,
            **params,
        },
    )


def test_defaults_by_sensitivity(requester, make_dataset, api_client_for):
    public, internal, conf = make_dataset("public"), make_dataset("internal"), make_dataset("confidential")
    r = _ask(api_client_for(requester), [public, internal, conf])
    assert r.status_code == 200, r.content
    body = r.json()
    assert (
        body["allowed"] is False and body["principal"] == requester.username and body["purpose"] == "training"
    )
    by = {d["urn"]: d for d in body["datasets"]}
    assert by[public.urn]["allowed"] and by[internal.urn]["allowed"]
    assert not by[conf.urn]["allowed"]
    assert "no approved access request" in " ".join(by[conf.urn]["reasons"])
    assert by[conf.urn]["access_request"] is None and by[conf.urn]["upstream_blockers"] == []
    assert [d["urn"] for d in body["datasets"]] == [public.urn, internal.urn, conf.urn]


def test_approval_clears_for_its_purpose_only(requester, steward, make_dataset, api_client_for):
    conf = make_dataset("confidential")
    req = _approved(requester, [steward], [conf])
    ok = _ask(api_client_for(requester), [conf]).json()
    assert ok["allowed"] and ok["datasets"][0]["access_request"] == req.pk
    assert f"#{req.pk}" in ok["datasets"][0]["reasons"][0]
    assert _ask(api_client_for(requester), [conf], purpose="evaluation").json()["allowed"] is False
    # Somebody else's approval clears nobody else.
    assert evaluate(principal=steward, urns=[conf.urn], purpose="training")["allowed"] is False


def test_expired_approval_counts_as_absent_before_the_sweep(requester, steward, make_dataset, api_client_for):
    conf = make_dataset("confidential")
    req = _approved(requester, [steward], [conf])
    AccessRequest.objects.filter(pk=req.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    body = _ask(api_client_for(requester), [conf]).json()
    assert body["allowed"] is False
    assert f"access request #{req.pk} for training is expired" in body["datasets"][0]["reasons"][0]


def test_policy_cap_on_approval_age_applies_after_the_fact(requester, owner, steward, make_dataset):
    conf = make_dataset("confidential")
    req = _approved(requester, [steward], [conf])
    dataset_policies.set_dataset_policy(actor=owner, dataset=conf, max_approval_days=10)
    assert evaluate(principal=requester, urns=[conf.urn], purpose="training")["allowed"]
    AccessRequest.objects.filter(pk=req.pk).update(
        decided_at=timezone.now() - timedelta(days=11), expires_at=None
    )
    answer = evaluate(principal=requester, urns=[conf.urn], purpose="training")
    assert not answer["allowed"] and "10-day cap" in answer["datasets"][0]["reasons"][0]


def test_derived_data_inherits_restrictions_of_its_sources(
    requester, owner, steward, make_dataset, derive, api_client_for
):
    source = make_dataset("restricted", name="raw/patients")
    middle = make_dataset("internal", name="staging/patients_clean")
    features = make_dataset("internal", name="features/patients")
    derive(middle, source)
    derive(features, middle)
    body = _ask(api_client_for(requester), [features]).json()
    entry = body["datasets"][0]
    assert body["allowed"] is False and entry["upstream_blockers"] == [source.urn]
    assert any(source.urn in r and "restricted" in r for r in entry["reasons"])

    req = _approved(requester, [steward, owner], [source])
    assert _ask(api_client_for(requester), [features]).json()["allowed"] is True

    access_requests.revoke_access_request(actor=owner, request=req, comment="study over")
    again = _ask(api_client_for(requester), [features]).json()
    assert again["allowed"] is False and again["datasets"][0]["upstream_blockers"] == [source.urn]
    assert f"access request #{req.pk} for training is revoked" in " ".join(again["datasets"][0]["reasons"])


def test_principal_parameter(requester, steward, outsider, pipeline, staff, make_dataset, api_client_for):
    conf = make_dataset("confidential")
    _approved(requester, [steward], [conf])
    # A pipeline account asks for the human it runs for.
    r = _ask(api_client_for(pipeline), [conf], principal=requester.username)
    assert r.status_code == 200 and r.json()["allowed"] and r.json()["principal"] == requester.username
    assert _ask(api_client_for(staff), [conf], principal=requester.username).json()["allowed"]
    # Anyone else may only ask for themselves.
    assert _ask(api_client_for(outsider), [conf], principal=requester.username).status_code == 403
    assert _ask(api_client_for(outsider), [conf], principal=outsider.username).status_code == 200
    unknown = _ask(api_client_for(pipeline), [conf], principal="nobody_here")
    assert unknown.status_code == 400 and "principal" in unknown.json()["errors"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"datasets": "not-a-urn", "purpose": "training"}, "datasets"),
        ({"datasets": "dataset:s3://lake:ghost", "purpose": "training"}, "datasets"),
        ({"datasets": "", "purpose": "training"}, "datasets"),
        ({"purpose": "training"}, "datasets"),
        ({"datasets": "dataset:s3://lake:x", "purpose": "marketing"}, "purpose"),
        ({"datasets": "dataset:s3://lake:x"}, "purpose"),
    ],
)
def test_bad_questions_are_400(requester, api_client_for, make_dataset, params, field):
    make_dataset("public", name="x")
    r = api_client_for(requester).get("/api/v1/clearance", params)
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]


def test_malformed_urns_are_named(requester, api_client_for, make_dataset):
    good = make_dataset("public")
    r = _ask(api_client_for(requester), ["bogus", good, "dataset:nocolon"])
    assert r.status_code == 400
    msg = r.json()["errors"]["datasets"][0]
    assert "bogus" in msg and "dataset:nocolon" in msg and good.urn not in msg


def test_too_many_datasets(requester, api_client_for):
    urns = [f"dataset:s3://lake:t{i}" for i in range(1000)]
    r = api_client_for(requester).get(
        "/api/v1/clearance", {"datasets": ",".join(urns), "purpose": "training"}
    )
    assert r.status_code == 400 and "At most 200" in r.json()["detail"]


def test_unauthenticated(anon_client):
    assert (
        anon_client.get("/api/v1/clearance", {"datasets": "dataset:a:b", "purpose": "training"}).status_code
        == 401
    )


def test_uri_namespaces_with_ports_resolve(requester, owner, steward):
    from catalog import services as catalog_services

    ds = catalog_services.create_dataset(
        actor=owner,
        namespace="postgres://db.internal:5432",
        name="public.members",
        sensitivity="confidential",
        stewards=[steward.username],
    )
    _approved(requester, [steward], [ds])
    assert ds.urn == "dataset:postgres://db.internal:5432:public.members"
    assert evaluate(principal=requester, urns=[ds.urn], purpose="training")["allowed"]


def test_query_count_does_not_grow_with_datasets(
    requester, steward, make_dataset, derive, django_assert_max_num_queries
):
    sources = [make_dataset("confidential") for _ in range(3)]
    asked = []
    for i in range(20):
        d = make_dataset("internal")
        derive(d, sources[i % 3])
        asked.append(d)
    _approved(requester, [steward], sources)
    # 6: one of them reads the hidden datasets the principal may not see (catalog.visibility).
    with django_assert_max_num_queries(6):
        answer = evaluate(principal=requester, urns=[d.urn for d in asked], purpose="training")
    assert answer["allowed"]


def test_an_approval_does_not_survive_a_stricter_sensitivity(requester, owner, steward, make_dataset):
    from catalog import services as catalog_services

    ds = make_dataset("confidential")
    req = _approved(requester, [steward], [ds])
    assert evaluate(principal=requester, urns=[ds.urn], purpose="training")["allowed"]
    catalog_services.update_dataset(actor=owner, dataset=ds, sensitivity="restricted")
    answer = evaluate(principal=requester, urns=[ds.urn], purpose="training")
    assert not answer["allowed"] and answer["datasets"][0]["access_request"] == req.pk
    assert "now restricted" in answer["datasets"][0]["reasons"][0]
    # A request approved by the owner and a steward clears it again.
    _approved(requester, [steward, owner], [ds])
    assert evaluate(principal=requester, urns=[ds.urn], purpose="training")["allowed"]


def test_names_with_commas_via_repeated_parameters(requester, owner, api_client_for):
    """QA F22: a Hive-style name with a comma can be asked about, repeated or on its own."""
    from catalog import services as catalog_services

    hive = catalog_services.create_dataset(
        actor=owner, namespace="s3://mix", name="events/date=2024-01-01,region=eu", sensitivity="public"
    )
    other = catalog_services.create_dataset(
        actor=owner, namespace="s3://mix", name="plain", sensitivity="public"
    )
    client = api_client_for(requester)
    r = client.get("/api/v1/clearance", {"datasets": [hive.urn, other.urn], "purpose": "training"})
    assert r.status_code == 200, r.content
    assert [d["urn"] for d in r.json()["datasets"]] == [hive.urn, other.urn] and r.json()["allowed"] is True
    alone = client.get("/api/v1/clearance", {"datasets": hive.urn, "purpose": "training"})
    assert alone.status_code == 200 and [d["urn"] for d in alone.json()["datasets"]] == [hive.urn]
    both = client.get("/api/v1/clearance", {"datasets": f"{other.urn},{hive.urn}", "purpose": "training"})
    assert [d["urn"] for d in both.json()["datasets"]] == [other.urn, hive.urn]


def test_a_requester_cannot_clear_themselves_by_rewriting_lineage(
    requester, make_dataset, derive, api_client_for
):
    """QA G4, G5: a run of the pipeline's job that reads nothing, or an event declaring the restricted
    source a model, must not take the source out of what the derived data rests on."""
    source = make_dataset("restricted", name="raw/customers")
    features = make_dataset("internal", name="features/churn")
    derive(features, source, job="build_churn_features")
    client = api_client_for(requester)
    forged = lineage_event(job="build_churn_features", inputs=[], outputs=[features])
    forged["eventTime"] = "2099-01-01T00:00:00Z"
    assert client.post("/api/v1/lineage", forged, format="json").status_code == 201  # kept, edges stay
    as_model = {
        "namespace": source.namespace,
        "name": source.name,
        "facets": {"datasetType": {"datasetType": "MODEL"}},
    }
    declared = lineage_event(job="requesters_own_job", inputs=[], outputs=[as_model])
    assert client.post("/api/v1/lineage", declared, format="json").status_code == 201
    body = _ask(client, [features]).json()
    assert body["allowed"] is False and body["datasets"][0]["upstream_blockers"] == [source.urn]


def test_data_derived_from_a_deleted_dataset_is_not_cleared_by_the_deletion(
    requester, owner, steward, make_dataset, derive, api_client_for
):
    """QA G12, G18: deleting the restricted source cleared everything derived from it, and then anyone
    could register its URN again as public."""
    from catalog import services as catalog_services
    from config.errors import Conflict, NotAllowed

    source = make_dataset("restricted", name="raw/claims_2024")
    features = make_dataset("internal", name="features/claims_2024")
    derive(features, source)
    catalog_services.delete_dataset(actor=owner, dataset=source)
    body = _ask(api_client_for(requester), [features]).json()
    entry = body["datasets"][0]
    assert body["allowed"] is False and entry["upstream_blockers"] == [source.urn]
    assert "deleted from the catalog while restricted" in " ".join(entry["reasons"])
    # Nobody else brings the URN back less sensitive, not even a steward of it; without a
    # sensitivity it comes back as it left.
    with pytest.raises(NotAllowed, match="was restricted when it was deleted"):
        catalog_services.create_dataset(
            actor=steward, namespace=source.namespace, name=source.name, sensitivity="public"
        )
    other = make_dataset("confidential", name="raw/other")
    catalog_services.delete_dataset(actor=owner, dataset=other)
    # Nor does anyone but its last owner, a steward of it or staff register the name again at all.
    with pytest.raises(Conflict, match="was deleted from the catalog"):
        catalog_services.create_dataset(actor=requester, namespace=other.namespace, name=other.name)
    back = catalog_services.create_dataset(actor=owner, namespace=other.namespace, name=other.name)
    assert back.sensitivity == "confidential"
    # Its last owner decides it was public after all: the usual rules apply.
    catalog_services.create_dataset(
        actor=owner, namespace=source.namespace, name=source.name, sensitivity="public"
    )
    assert _ask(api_client_for(requester), [features]).json()["allowed"] is True


def test_a_deleted_public_source_blocks_nothing(requester, owner, make_dataset, derive, api_client_for):
    from catalog import services as catalog_services

    source = make_dataset("public", name="open/weather")
    features = make_dataset("internal", name="features/weather")
    derive(features, source)
    catalog_services.delete_dataset(actor=owner, dataset=source)
    assert _ask(api_client_for(requester), [features]).json()["allowed"] is True
