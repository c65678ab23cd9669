"""Issue 5's "done when", through the API alone: a pipeline, a requester, the owner and two stewards.

request → approve (two people for restricted) → clear → train → register the model → read its card
→ revoke → clearance refused, including for data derived (by lineage) from the revoked source.
"""

import pytest

from governance.tests.conftest import lineage_event

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_whole_story(owner, steward, steward2, requester, pipeline, api_client_for, tmp_path):
    as_owner, as_steward, as_steward2 = (
        api_client_for(owner),
        api_client_for(steward),
        api_client_for(steward2),
    )
    as_requester, as_pipeline = api_client_for(requester), api_client_for(pipeline, scheme="Bearer")

    # The owner registers a restricted source and a confidential reference table; stewards named.
    def create(name, sensitivity):
        r = as_owner.post(
            "/api/v1/datasets/",
            {
                "namespace": "s3://lake",
                "name": name,
                "sensitivity": sensitivity,
                "stewards": [steward.username, steward2.username],
            },
            format="json",
        )
        assert r.status_code == 201, r.content
        return r.json()

    claims = create("raw/claims", "restricted")
    regions = create("ref/regions", "confidential")
    features = create("features/claims", "internal")

    # A pipeline derives the feature table from the restricted source (lineage); a version is uploaded.
    event = lineage_event(
        job="build_features",
        inputs=[{"namespace": "s3://lake", "name": "raw/claims"}],
        outputs=[{"namespace": "s3://lake", "name": "features/claims"}],
    )
    assert as_pipeline.post("/api/v1/lineage", event, format="json").status_code == 201
    f = tmp_path / "features.csv"
    f.write_text("id,amount,region\n1,10.5,north\n2,3.0,south\n3,7.25,north\n")
    with f.open("rb") as fh:
        up = as_owner.post(f"/api/v1/datasets/{features['id']}/versions/", {"file": fh}, format="multipart")
    assert up.status_code == 201, up.content

    # Before anything: the derived data is refused because of its restricted source.
    ask = {
        "datasets": f"{features['urn']},{regions['urn']}",
        "purpose": "training",
        "principal": requester.username,
    }
    before = as_pipeline.get("/api/v1/clearance", ask).json()
    assert before["allowed"] is False
    assert before["datasets"][0]["upstream_blockers"] == [claims["urn"]]

    # The requester asks; a steward approves, the same steward again is refused, the owner completes.
    r = as_requester.post(
        "/api/v1/access-requests/",
        {
            "datasets": [claims["urn"], regions["urn"]],
            "purpose": "training",
            "model": "claims-fraud",
            "justification": "Fraud model on 2024 claims; features only, no raw export.",
        },
        format="json",
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    rid = r.json()["id"]
    assert as_requester.post(f"/api/v1/access-requests/{rid}/approve").status_code == 403
    assert (
        as_steward.post(f"/api/v1/access-requests/{rid}/approve", {"comment": "ok"}, format="json").json()[
            "status"
        ]
        == "pending"
    )
    assert as_steward.post(f"/api/v1/access-requests/{rid}/approve").status_code == 409
    done = as_owner.post(
        f"/api/v1/access-requests/{rid}/approve", {"comment": "granted"}, format="json"
    ).json()
    assert done["status"] == "approved" and len(done["approvals"]) == 2

    # The pipeline asks before reading a byte: cleared.
    cleared = as_pipeline.get("/api/v1/clearance", ask).json()
    assert cleared["allowed"] is True and cleared["principal"] == requester.username
    assert cleared["datasets"][1]["access_request"] == rid

    # It trains, then registers the model for the requester.
    m = as_pipeline.post(
        "/api/v1/models/",
        {
            "namespace": "ml",
            "name": "claims-fraud",
            "version": "1",
            "principal": requester.username,
            "trained_on": [f"{features['urn']}@1", regions["urn"]],
            "run_id": "run-2026-11-25",
        },
        format="json",
    )
    assert m.status_code == 201, m.content
    model = m.json()
    assert model["cleared"] is True and model["owner"] == requester.username
    assert model["trained_on"] == [f"{features['urn']}@1", regions["urn"]]

    # The requester documents it and everyone can read its card.
    assert (
        as_requester.patch(
            f"/api/v1/models/{model['id']}/", {"intended_use": "Flag claims for review."}, format="json"
        ).status_code
        == 200
    )
    card = as_steward2.get(f"/api/v1/models/{model['id']}/card").json()
    assert card["intended_use"]["text"] == "Flag claims for review."
    by_urn = {t["urn"]: t for t in card["training_data"]}
    assert by_urn[features["urn"]]["version"] == 1
    assert by_urn[features["urn"]]["lineage_sources"] == [claims["urn"]]
    assert by_urn[regions["urn"]]["approval"]["id"] == rid
    assert card["ethical_considerations"]["cleared_at_registration"] is True
    assert "## Training data" in as_steward2.get(f"/api/v1/models/{model['id']}/card.md").content.decode()

    # A steward revokes: clearance is refused from now on, for the source and what derives from it.
    revoked = as_steward2.post(
        f"/api/v1/access-requests/{rid}/revoke", {"comment": "audit finding"}, format="json"
    ).json()
    assert revoked["status"] == "revoked"
    after = as_pipeline.get("/api/v1/clearance", ask).json()
    assert after["allowed"] is False
    derived, direct = after["datasets"]
    assert derived["allowed"] is False and derived["upstream_blockers"] == [claims["urn"]]
    assert any(f"#{rid}" in r and "revoked" in r for r in derived["reasons"])
    assert direct["allowed"] is False and direct["access_request"] == rid
    direct_claims = as_pipeline.get("/api/v1/clearance", {**ask, "datasets": claims["urn"]}).json()
    assert direct_claims["allowed"] is False

    # The model stays on record as trained with the clearance it had; the audit tells the story.
    assert as_requester.get(f"/api/v1/models/{model['id']}/").json()["cleared"] is True
    actions = [
        a["action"] for a in as_requester.get("/api/v1/audit/", {"object": claims["urn"]}).json()["results"]
    ]
    assert actions[:4] == [
        "access_request.revoked",
        "access_request.approved",
        "access_request.approval",
        "access_request.created",
    ]
    assert "dataset.created" in actions
    model_audit = as_requester.get("/api/v1/audit/", {"object": f"model:{model['id']}"}).json()["results"]
    assert [a["action"] for a in model_audit] == ["model.card_edited", "model.registered"]
    assert model_audit[1]["after"]["cleared"] is True
