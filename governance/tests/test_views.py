"""Governance's web pages, server side: requesting access, the inbox, decisions, clearance, cards, audit."""

import re

import pytest
from django.urls import reverse

from governance import access_requests, registry
from governance.models import AccessRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def confidential(make_dataset):
    return make_dataset("confidential", name="hr/salaries")


def _ask(client, dataset, **extra):
    return client.post(
        reverse("governance:request-new"),
        {"datasets": dataset.urn, "purpose": "training", "justification": "Train the *churn* model", **extra},
    )


def test_request_form_is_prefilled_and_creates(web, requester, confidential):
    client = web(requester)
    form = client.get(reverse("governance:request-new"), {"dataset": confidential.urn})
    assert confidential.urn in form.content.decode()
    response = _ask(client, confidential)
    assert response.status_code == 302
    access = AccessRequest.objects.get()
    assert access.requester == requester and access.status == "pending"
    page = client.get(reverse("governance:request", args=[access.pk])).content.decode()
    assert "<em>churn</em>" in page
    assert "Created" in page  # the history


def test_request_form_reports_bad_input(web, requester):
    response = _ask(web(requester), type("D", (), {"urn": "dataset:nowhere:missing"})())
    assert response.status_code == 400
    assert "Unknown dataset" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_inbox_shows_requests_to_deciders_only(web, requester, steward, outsider, owner, confidential):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    assert f"Request #{access.pk}" in web(steward).get(reverse("governance:inbox")).content.decode()
    assert f"Request #{access.pk}" in web(owner).get(reverse("governance:inbox")).content.decode()
    assert f"Request #{access.pk}" not in web(outsider).get(reverse("governance:inbox")).content.decode()
    # The requester never sees a decision control on their own request.
    own = web(requester)
    assert f"Request #{access.pk}" not in own.get(reverse("governance:inbox")).content.decode()
    assert (
        reverse("governance:decide", args=[access.pk])
        not in own.get(reverse("governance:request", args=[access.pk])).content.decode()
    )


def test_server_refuses_deciding_own_or_foreign_requests(web, requester, outsider, confidential, owner):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    url = reverse("governance:decide", args=[access.pk])
    assert web(requester).post(url, {"decision": "approve"}).status_code == 403
    # An outsider cannot even see the request.
    assert web(outsider).post(url, {"decision": "approve"}).status_code == 404
    access.refresh_from_db()
    assert access.status == "pending"


def test_steward_approves_and_clearance_turns_green(web, requester, steward, confidential):
    client = web(requester)
    _ask(client, confidential)
    access = AccessRequest.objects.get()
    panel = client.get(reverse("governance:dataset-access", args=[confidential.pk]), HTTP_HX_REQUEST="true")
    assert 'data-allowed="false"' in panel.content.decode()
    response = web(steward).post(
        reverse("governance:decide", args=[access.pk]),
        {"decision": "approve", "comment": "ok", "next": "inbox"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("governance:inbox")
    access.refresh_from_db()
    assert access.status == "approved"
    client = web(requester)
    panel = client.get(reverse("governance:dataset-access", args=[confidential.pk]), HTTP_HX_REQUEST="true")
    assert 'data-allowed="true"' in panel.content.decode()
    assert "<html" not in panel.content.decode()
    page = client.get(reverse("governance:request", args=[access.pk])).content.decode()
    assert "Approved" in page and "ok" in page
    # Without JavaScript the panel is a page of its own.
    assert (
        "<html" in client.get(reverse("governance:dataset-access", args=[confidential.pk])).content.decode()
    )


def test_reject_with_comment(web, requester, owner, confidential):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    web(owner).post(
        reverse("governance:decide", args=[access.pk]), {"decision": "reject", "comment": "too broad"}
    )
    access.refresh_from_db()
    assert access.status == "rejected"


def test_revoke_shown_and_allowed_for_requester(web, requester, steward, confidential):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    access_requests.approve_access_request(actor=steward, request=access)
    client = web(requester)
    assert "Revoke access" in client.get(reverse("governance:request", args=[access.pk])).content.decode()
    client.post(reverse("governance:revoke", args=[access.pk]), {"comment": "done"})
    access.refresh_from_db()
    assert access.status == "revoked"


def test_home_lists_inbox_and_requests(web, requester, steward, confidential):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    assert f"Request #{access.pk}" in web(requester).get(reverse("home")).content.decode()
    assert f"Request #{access.pk}" in web(steward).get(reverse("home")).content.decode()


def test_model_card_and_audit(web, owner, outsider, make_dataset):
    ds = make_dataset("internal", name="public/iris")
    mv = registry.register_model_version(
        actor=owner,
        namespace="ml",
        name="iris-classifier",
        version="1",
        trained_on=[ds.urn],
        record_lineage=False,
    )
    client = web(outsider)
    assert "iris-classifier" in client.get(reverse("governance:models")).content.decode()
    card = client.get(reverse("governance:model", args=[mv.pk]))
    assert card.status_code == 200
    html = card.content.decode()
    assert "Training data" in html and ds.urn in html
    assert "data-print" in html  # static/gouvernail/app.js prints: no inline script under the CSP
    audit = client.get(reverse("governance:audit"), {"object": ds.urn})
    assert audit.status_code == 200
    assert "dataset" in audit.content.decode()


def test_requester_withdraws_a_pending_request(web, requester, steward, confidential):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    url = reverse("governance:withdraw", args=[access.pk])
    assert url not in web(steward).get(reverse("governance:request", args=[access.pk])).content.decode()
    assert web(steward).post(url).status_code == 403
    client = web(requester)
    assert url in client.get(reverse("governance:request", args=[access.pk])).content.decode()
    client.post(url)
    access.refresh_from_db()
    assert access.status == "withdrawn"


def test_inbox_says_a_restricted_dataset_needs_two_approvals_and_how_many_are_in(
    web, requester, owner, steward, make_dataset
):
    restricted = make_dataset("restricted", name="clinical/diabetes_patients_with_a_long_name")
    _ask(web(requester), restricted)
    access = AccessRequest.objects.get()
    html = web(steward).get(reverse("governance:inbox")).content.decode()
    assert "needs two approvals by two different people, the owner and a steward" in html
    assert "0 of 2 in" in html
    assert 'class="break-anywhere"' in html
    access_requests.approve_access_request(actor=steward, request=access)
    html = web(owner).get(reverse("governance:inbox")).content.decode()
    assert "1 of 2 in" in html
    assert "still needed: an approval by the owner (a steward has approved)" in html


def test_inbox_says_a_confidential_dataset_needs_one_approval(web, requester, steward, confidential):
    _ask(web(requester), confidential)
    html = web(steward).get(reverse("governance:inbox")).content.decode()
    assert "needs one approval by the owner or a steward" in html
    assert "0 of 1 in" in html


def test_model_card_says_cleared_at_registration_and_the_request_state_now(
    web, requester, steward, confidential
):
    _ask(web(requester), confidential)
    access = AccessRequest.objects.get()
    access_requests.approve_access_request(actor=steward, request=access)
    mv = registry.register_model_version(
        actor=requester,
        namespace="ml",
        name="churn",
        version="1",
        trained_on=[confidential.urn],
        record_lineage=False,
    )
    access_requests.revoke_access_request(actor=requester, request=access, comment="done")
    html = web(requester).get(reverse("governance:model", args=[mv.pk])).content.decode()
    assert "Cleared at registration" in html
    assert f"request #{access.pk}: " in html
    assert '<span class="badge badge-bad">revoked</span>' in html
    # Day and time apart ("2026-11-25 14:05", not "2026-11-2514:05").
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d by rita_requester", html)
