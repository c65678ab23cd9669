"""Editing from the web UI: a dataset's policy (access panel) and a model card's intended use and
caveats. The owner / steward / outsider trio: who sees the form, whose POST is accepted, who gets a
403, what an invalid POST says (the API's words) and that nothing changes when a POST is refused."""

import re

import pytest
from django.urls import reverse

from governance import dataset_policies, registry
from governance.models import AuditRecord, DatasetPolicy, ModelVersion

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def dataset(make_dataset):
    return make_dataset("confidential", name="hr/applicants", sensitive_columns=["sex"])


def _panel(client, dataset, **headers):
    return client.get(reverse("governance:dataset-access", args=[dataset.pk]), **headers)


def _set_policy(client, dataset, data, **headers):
    return client.post(reverse("governance:dataset-policy", args=[dataset.pk]), data, **headers)


def _field_errors(html: str, field: str) -> list[str]:
    """The error messages shown beside one field (Django's list with the id <auto_id>_error)."""
    match = re.search(rf'<ul class="errorlist" id="policy-{field}_error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


# ---------------------------------------------------------------------------------------------
# A dataset's policy


@pytest.fixture
def tightened(owner, dataset):
    """Every condition of a policy set on the dataset (by its owner, through the service)."""
    return dataset_policies.set_dataset_policy(
        actor=owner,
        dataset=dataset,
        require_quality_pass=True,
        max_parity_difference=0.1,
        max_approval_days=30,
    )


def test_policy_is_shown_in_plain_words_to_everyone(web, outsider, dataset, tightened):
    html = _panel(web(outsider), dataset, **HTMX).content.decode()
    assert "Confidential: needs one approval by the owner or a steward." in html
    assert "A passing quality suite on the latest profiled version is required." in html
    assert "Demographic parity difference at most 0.1 on every sensitive column (sex)." in html
    assert "An approval counts for at most 30 days after it is given." in html


def test_default_policy_says_there_is_no_condition(web, outsider, dataset):
    html = _panel(web(outsider), dataset, **HTMX).content.decode()
    assert "A passing quality suite is not required." in html
    assert "No cap on bias disparity" in html
    assert "No cap on an approval&#x27;s age" in html


@pytest.mark.parametrize(
    "who, shown", [("owner", True), ("steward", True), ("staff", True), ("outsider", False)]
)
def test_policy_form_only_for_owner_steward_and_staff(request, web, dataset, who, shown):
    client = web(request.getfixturevalue(who))
    for response in (_panel(client, dataset, **HTMX), _panel(client, dataset)):  # partial and page
        html = response.content.decode()
        assert "Policy" in html
        assert (reverse("governance:dataset-policy", args=[dataset.pk]) in html) is shown
        assert ('name="max_parity_difference"' in html) is shown


@pytest.mark.parametrize("who", ["owner", "steward"])
def test_owner_and_steward_set_the_policy_without_javascript(request, web, dataset, who):
    user = request.getfixturevalue(who)
    client = web(user)
    response = _set_policy(
        client,
        dataset,
        {
            "require_quality_pass": "on",
            "max_parity_difference": "0.05",
            "max_approval_days": "30",
            "purpose": "training",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("governance:dataset-access", args=[dataset.pk])
    policy = DatasetPolicy.objects.get(dataset=dataset)
    assert (policy.require_quality_pass, policy.max_parity_difference, policy.max_approval_days) == (
        True,
        0.05,
        30,
    )
    assert policy.updated_by == user
    page = client.get(response["Location"]).content.decode()
    assert "Policy saved." in page
    assert "Demographic parity difference at most 0.05" in page
    # The service audited it, as made through the web UI; the audit page shows it.
    record = AuditRecord.objects.filter(action="policy.changed").get()
    assert (record.via, record.actor, record.after["max_approval_days"]) == ("ui", user.username, 30)
    audit = client.get(reverse("governance:audit"), {"object": dataset.urn}).content.decode()
    assert "policy.changed" in audit and "Web UI" in audit


def test_policy_with_htmx_swaps_the_panel(web, steward, dataset):
    response = _set_policy(web(steward), dataset, {"max_approval_days": "7", "purpose": "evaluation"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the panel, not a page
    assert "Policy saved." in html
    assert "An approval counts for at most 7 days after it is given." in html
    assert 'value="evaluation" selected' in html  # the purpose the panel showed is kept
    assert DatasetPolicy.objects.get(dataset=dataset).max_approval_days == 7


def test_clearing_a_field_removes_the_condition(web, owner, dataset, tightened):
    client = web(owner)
    form = _panel(client, dataset, **HTMX).content.decode()
    assert 'value="0.1"' in form and 'value="30"' in form and "checked" in form  # prefilled
    response = _set_policy(client, dataset, {"max_parity_difference": "", "max_approval_days": ""})
    assert response.status_code == 302
    policy = DatasetPolicy.objects.get(dataset=dataset)
    assert (policy.require_quality_pass, policy.max_parity_difference, policy.max_approval_days) == (
        False,
        None,
        None,
    )


def test_outsider_is_refused_and_nothing_changes(web, outsider, dataset, owner):
    dataset_policies.set_dataset_policy(actor=owner, dataset=dataset, max_approval_days=30)
    records = AuditRecord.objects.count()
    for headers in ({}, HTMX):
        response = _set_policy(
            web(outsider), dataset, {"max_approval_days": "1", "require_quality_pass": "on"}, **headers
        )
        assert response.status_code == 403
    policy = DatasetPolicy.objects.get(dataset=dataset)
    assert (policy.max_approval_days, policy.require_quality_pass) == (30, False)
    assert AuditRecord.objects.count() == records


def test_signed_out_post_goes_to_the_login_page(client, dataset):
    response = _set_policy(client, dataset, {"max_approval_days": "1"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not DatasetPolicy.objects.exists()


def test_unknown_dataset_is_404(web, owner):
    response = web(owner).post(
        reverse("governance:dataset-policy", args=[999_999]), {"max_approval_days": "1"}
    )
    assert response.status_code == 404


BAD_POLICIES = [
    ("max_parity_difference", "1.5"),
    ("max_parity_difference", "-0.1"),
    ("max_parity_difference", "lots"),
    ("max_approval_days", "0"),
    ("max_approval_days", "3651"),
    ("max_approval_days", "2.5"),
]


@pytest.mark.parametrize("field, value", BAD_POLICIES)
def test_invalid_policy_says_what_the_api_says_beside_the_field(
    web, api_client_for, steward, dataset, field, value
):
    response = _set_policy(web(steward), dataset, {field: value})
    assert response.status_code == 400
    html = response.content.decode()
    shown = _field_errors(html, field)
    api = api_client_for(steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", {field: value}, format="json")
    assert api.status_code == 400
    assert shown == api.json()["errors"][field]
    assert '<details class="policy-edit" open>' in html  # the form stays open on its errors
    assert f'value="{value}"' in html  # what was typed is kept
    assert not DatasetPolicy.objects.exists()
    assert not AuditRecord.objects.filter(action="policy.changed").exists()


def test_invalid_policy_with_htmx_is_a_422_partial(web, steward, dataset):
    response = _set_policy(web(steward), dataset, {"max_parity_difference": "2"}, **HTMX)
    assert response.status_code == 422  # app.js swaps it in; htmx 2 would not swap a 4xx by itself
    html = response.content.decode()
    assert "<html" not in html
    assert _field_errors(html, "max_parity_difference") == ["Ensure this value is less than or equal to 1."]
    assert 'aria-invalid="true"' in html
    assert not DatasetPolicy.objects.exists()


# ---------------------------------------------------------------------------------------------
# A model card's intended use and caveats


@pytest.fixture
def model_version(owner, make_dataset):
    ds = make_dataset("internal", name="public/iris")
    return registry.register_model_version(
        actor=owner,
        namespace="ml",
        name="iris-classifier",
        version="1",
        trained_on=[ds.urn],
        record_lineage=False,
    )


def _card(client, mv, **headers):
    return client.get(reverse("governance:model", args=[mv.pk]), **headers)


def _edit_card(client, mv, data, **headers):
    return client.post(reverse("governance:model-edit", args=[mv.pk]), data, **headers)


@pytest.mark.parametrize(
    "who, shown", [("owner", True), ("staff", True), ("steward", False), ("outsider", False)]
)
def test_card_form_only_for_the_models_owner_and_staff(request, web, model_version, who, shown):
    html = _card(web(request.getfixturevalue(who)), model_version).content.decode()
    assert "Intended use" in html
    assert (reverse("governance:model-edit", args=[model_version.pk]) in html) is shown
    assert ('name="caveats"' in html) is shown
    if shown:  # the form is not printed
        assert re.search(r'<section class="card no-print" id="card-edit"', html)


def test_owner_writes_intended_use_and_caveats(web, owner, model_version):
    client = web(owner)
    response = _edit_card(
        client,
        model_version,
        {
            "intended_use": "Classify **iris** flowers.<script>alert(1)</script>",
            "caveats": "- Not for *orchids*",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("governance:model", args=[model_version.pk])
    model_version.refresh_from_db()
    assert model_version.caveats == "- Not for *orchids*"
    html = client.get(response["Location"]).content.decode()
    assert "Intended use and caveats saved." in html
    assert "<strong>iris</strong>" in html and "<em>orchids</em>" in html
    assert "<script>alert(1)</script>" not in html  # sanitised when shown (escaped in the textarea)
    record = AuditRecord.objects.get(action="model.card_edited")
    assert (record.via, record.actor) == ("ui", owner.username)
    audit = client.get(reverse("governance:audit"), {"object": f"model:{model_version.pk}"}).content.decode()
    assert "model.card_edited" in audit


def test_card_with_htmx_swaps_the_card(web, staff, model_version):
    response = _edit_card(
        web(staff), model_version, {"intended_use": "", "caveats": "Small *sample*."}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'class="model-card"' in html
    assert "Intended use and caveats saved." in html and "<em>sample</em>" in html
    assert ModelVersion.objects.get(pk=model_version.pk).caveats == "Small *sample*."


def test_preview_shows_the_markdown_and_saves_nothing(web, owner, model_version):
    response = _edit_card(
        web(owner), model_version, {"intended_use": "For **teaching**.", "caveats": "", "preview": "1"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="id_intended_use_preview"[^>]*><p>For <strong>teaching</strong>.</p>', html)
    assert "Nothing to preview." in html  # the empty caveats
    assert ModelVersion.objects.get(pk=model_version.pk).intended_use == ""
    assert not AuditRecord.objects.filter(action="model.card_edited").exists()


@pytest.mark.parametrize("who, status", [("outsider", 403), ("steward", 403)])
def test_others_are_refused_and_nothing_changes(request, web, model_version, owner, who, status):
    registry.update_model_version(actor=owner, model_version=model_version, caveats="Original.")
    records = AuditRecord.objects.count()
    client = web(request.getfixturevalue(who))
    for headers in ({}, HTMX):
        assert _edit_card(client, model_version, {"caveats": "Hijacked."}, **headers).status_code == status
    assert ModelVersion.objects.get(pk=model_version.pk).caveats == "Original."
    assert AuditRecord.objects.count() == records


def test_too_long_text_says_what_the_api_says(web, api_client_for, owner, model_version):
    text = "x" * 50_001
    response = _edit_card(web(owner), model_version, {"intended_use": "Fine.", "caveats": text})
    assert response.status_code == 400
    html = response.content.decode()
    api = api_client_for(owner).patch(f"/api/v1/models/{model_version.pk}/", {"caveats": text}, format="json")
    assert api.status_code == 400
    match = re.search(r'<ul class="errorlist" id="id_caveats_error"><li>(.*?)</li>', html)
    assert match and [match.group(1)] == api.json()["errors"]["caveats"]
    assert (
        ModelVersion.objects.get(pk=model_version.pk).intended_use == ""
    )  # nothing saved, not even the valid part
    htmx = _edit_card(web(owner), model_version, {"caveats": text}, **HTMX)
    assert htmx.status_code == 422 and "<html" not in htmx.content.decode()
