"""A model card shows the access requests behind its clearance only to who may see them elsewhere
(selectors.visible_access_requests): the requester, the owners and stewards of their datasets, and
staff. Everyone signed in reads the rest of the card. Checked in every rendering: JSON, Markdown,
HTML and the web page."""

import pytest
from django.test import Client

from governance import access_requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_world(requester, owner, steward, make_dataset, api_client_for):
    ds = make_dataset("confidential", name="credit/scoring")
    req = access_requests.create_access_request(
        actor=requester,
        datasets=[ds.urn],
        purpose="evaluation",
        justification="holdout for the scorecard",
        model_name="scorecard",
    )
    access_requests.approve_access_request(actor=steward, request=req, comment="granted")
    r = api_client_for(requester).post(
        "/api/v1/models/",
        {"namespace": "ml", "name": "scorecard", "version": "1", "trained_on": [ds.urn]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["cleared"] is False  # evaluation, not training
    # Trained on data cleared by that request: register a second version once it covers training.
    train = access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="train it"
    )
    access_requests.approve_access_request(actor=steward, request=train)
    r = api_client_for(requester).post(
        "/api/v1/models/",
        {"namespace": "ml", "name": "scorecard", "version": "2", "trained_on": [ds.urn]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["cleared"] is True
    return {"model": r.json()["id"], "request": train.pk}


def _renderings(user, model_id, api_client_for) -> dict[str, str]:
    api = api_client_for(user)
    web = Client()
    web.force_login(user)
    out = {
        "json": api.get(f"/api/v1/models/{model_id}/card"),
        "md": api.get(f"/api/v1/models/{model_id}/card.md"),
        "html": api.get(f"/api/v1/models/{model_id}/card.html"),
        "page": web.get(f"/models/{model_id}/"),
    }
    assert all(r.status_code == 200 for r in out.values()), {k: r.status_code for k, r in out.items()}
    return {k: r.content.decode() for k, r in out.items()}


@pytest.mark.parametrize(
    ("role", "sees"),
    [("outsider", False), ("requester", True), ("steward", True), ("owner", True), ("staff", True)],
)
def test_the_card_shows_a_request_only_to_who_may_see_it_elsewhere(
    role, sees, card_world, request, api_client_for
):
    user = request.getfixturevalue(role)
    steward = request.getfixturevalue("steward")
    rid = card_world["request"]
    # Elsewhere: the request's own endpoint and the audit of it.
    api = api_client_for(user)
    assert (api.get(f"/api/v1/access-requests/{rid}/").status_code == 200) is sees
    assert (api.get("/api/v1/audit/", {"object": f"access_request:{rid}"}).json()["count"] > 0) is sees

    card = api.get(f"/api/v1/models/{card_world['model']}/card").json()
    approval = card["training_data"][0]["approval"]
    assert approval["id"] == rid and approval["visible"] is sees
    if sees:
        assert approval["status_now"] == "approved" and approval["purpose"] == "training"
        assert [a["approver"] for a in approval["approvals"]] == [steward.username]
    else:
        assert approval == {"id": rid, "visible": False}
    for name, body in _renderings(user, card_world["model"], api_client_for).items():
        # The approver's name appears in a card only with the request it approved.
        assert (steward.username in body) is sees, name
        assert (f"#{rid}" in body) is True, name


def test_a_signed_out_reader_gets_no_card(card_world, anon_client):
    assert anon_client.get(f"/api/v1/models/{card_world['model']}/card").status_code == 401
