"""The release gate: a model's policy, and /clearance?models=...&purpose=deployment and /release-check.

Evaluations are written with the ORM here (governance.evaluations computes them with Fairlearn);
the gate only reads them.
"""

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import access_requests, release
from governance.models import AuditRecord, EvaluationStatus, ModelEvaluation, ModelPolicy, ModelVersion
from tests.read_only import no_writes

pytestmark = pytest.mark.django_db

GROUPS_FAIR = {
    "sex": {
        "F": {"count": 50, "accuracy": 0.86, "recall": 0.80, "false_positive_rate": 0.10},
        "M": {"count": 50, "accuracy": 0.88, "recall": 0.84, "false_positive_rate": 0.12},
    }
}
GROUPS_UNFAIR = {
    "sex": {
        "F": {"count": 50, "accuracy": 0.70, "recall": 0.61, "false_positive_rate": 0.10},
        "M": {"count": 50, "accuracy": 0.90, "recall": 0.84, "false_positive_rate": 0.14},
    }
}


@pytest.fixture
def register(api_client_for):
    def make(user, trained_on, *, name="scorer", version="1"):
        r = api_client_for(user).post(
            "/api/v1/models/",
            {"namespace": "mlflow://ml:5000", "name": name, "version": version, "trained_on": trained_on},
            format="json",
        )
        assert r.status_code == 201, r.content
        return ModelVersion.objects.get(pk=r.json()["id"])

    return make


def evaluation(mv, dataset, *, overlaps=False, accuracy=0.87, groups=GROUPS_FAIR, eod=None, **extra):
    """A succeeded evaluation row, as governance.evaluations leaves one."""
    if eod is None:
        eod = {
            col: max(
                max(g["recall"] for g in gs.values()) - min(g["recall"] for g in gs.values()),
                max(g["false_positive_rate"] for g in gs.values())
                - min(g["false_positive_rate"] for g in gs.values()),
            )
            for col, gs in groups.items()
        }
    fields = {
        "model_version": mv,
        "dataset_urn": dataset.urn,
        "version_number": 1,
        "label_column": "y",
        "prediction_column": "p",
        "sensitive_columns": list(groups),
        "status": EvaluationStatus.SUCCEEDED,
        "overall": {"accuracy": accuracy},
        "by_group": groups,
        "equalized_odds_difference": eod,
        "overlaps_training": overlaps,
        "finished_at": timezone.now(),
        **extra,
    }
    return ModelEvaluation.objects.create(**fields)


def deployment(client, mv_or_urn, **params):
    urn = mv_or_urn if isinstance(mv_or_urn, str) else release.model_urn(mv_or_urn)
    return client.get("/api/v1/clearance", {"models": urn, "purpose": "deployment", **params})


def test_no_policy_checks_the_training_data(owner, make_dataset, register, api_client_for):
    pub = make_dataset("public")
    mv = register(owner, [pub.urn])
    r = deployment(api_client_for(owner), mv)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["allowed"] is True and body["purpose"] == "deployment" and body["principal"] == owner.username
    assert [d["urn"] for d in body["datasets"]] == [pub.urn]
    assert body["datasets"][0]["model"] == "model:mlflow://ml:5000:scorer@1"
    [model] = body["models"]
    assert model["id"] == mv.pk and model["policy"] is None and model["trained_for"] == owner.username
    assert any("none set" in r for r in model["reasons"])


def test_policy_refuses_with_group_and_metric(owner, make_dataset, register, api_client_for):
    train, held_out = make_dataset("public"), make_dataset("public")
    mv = register(owner, [train.urn])
    client = api_client_for(owner)
    r = client.put(
        f"/api/v1/models/{mv.pk}/policy",
        {"max_equalized_odds_difference": 0.1, "min_accuracy": 0.8, "require_independent_evaluation": True},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["model"] == "model:mlflow://ml:5000:scorer" and r.json()["updated_by"] == owner.username

    # No evaluation yet: thresholds cannot be checked.
    body = deployment(client, mv).json()
    assert body["allowed"] is False
    assert any("no succeeded evaluation" in x for x in body["models"][0]["reasons"])

    # An evaluation on the training data only: not independent.
    evaluation(mv, train, overlaps=True)
    reasons = deployment(client, mv).json()["models"][0]["reasons"]
    assert any("every succeeded evaluation overlaps its training data" in x for x in reasons)

    # An independent evaluation that is unfair and not accurate enough.
    bad = evaluation(mv, held_out, accuracy=0.72, groups=GROUPS_UNFAIR)
    body = deployment(client, mv).json()
    assert body["allowed"] is False
    reasons = body["models"][0]["reasons"]
    assert (
        f"evaluation #{bad.pk} on {held_out.urn}@1: equalized-odds difference on 'sex' is 0.23 (> 0.10): "
        "group 'F' recall 0.61 vs 'M' 0.84" in reasons
    )
    assert any(
        x.startswith(f"evaluation #{bad.pk}") and "accuracy 0.72 (< 0.80)" in x and "'F'" in x
        for x in reasons
    )
    assert bad.pk in body["models"][0]["evaluations"]

    # A later evaluation on the same dataset supersedes it; now everything holds.
    good = evaluation(mv, held_out)
    body = deployment(client, mv).json()
    assert body["allowed"] is True, body["models"][0]["reasons"]
    assert bad.pk not in body["models"][0]["evaluations"] and good.pk in body["models"][0]["evaluations"]
    # The release check on the model answers the same.
    check = client.get(f"/api/v1/models/{mv.pk}/release-check").json()
    assert check["allowed"] is True and check["models"][0]["reasons"] == body["models"][0]["reasons"]


def test_failed_and_running_evaluations_do_not_count(owner, make_dataset, register, api_client_for):
    train, held_out = make_dataset("public"), make_dataset("public")
    mv = register(owner, [train.urn])
    ModelPolicy.objects.create(model=mv.model, min_accuracy=0.5)
    evaluation(mv, held_out, status=EvaluationStatus.FAILED)
    evaluation(mv, held_out, status=EvaluationStatus.RUNNING, finished_at=None)
    assert deployment(api_client_for(owner), mv).json()["allowed"] is False


def test_missing_figures_refuse(owner, make_dataset, register, api_client_for):
    train, held_out = make_dataset("public"), make_dataset("public")
    mv = register(owner, [train.urn])
    ModelPolicy.objects.create(model=mv.model, max_equalized_odds_difference=0.2)
    evaluation(mv, held_out, groups=GROUPS_FAIR, eod={"sex": None})
    reasons = deployment(api_client_for(owner), mv).json()["models"][0]["reasons"]
    assert any("equalized-odds difference on 'sex' was not computed" in x for x in reasons)


def test_training_data_must_still_be_cleared(
    requester, steward, outsider, make_dataset, register, api_client_for
):
    conf = make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    mv = register(requester, [conf.urn])
    assert mv.cleared
    # Checked for the person it was trained for, whoever asks.
    body = deployment(api_client_for(outsider), mv).json()
    assert body["allowed"] is True and body["principal"] == outsider.username
    assert body["models"][0]["trained_for"] == requester.username

    access_requests.revoke_access_request(actor=steward, request=req, comment="no more")
    body = deployment(api_client_for(outsider), mv).json()
    assert body["allowed"] is False
    assert body["datasets"][0]["urn"] == conf.urn and body["datasets"][0]["allowed"] is False
    assert any(
        f"not cleared for training for {requester.username} any more: {conf.urn}" in x
        for x in body["models"][0]["reasons"]
    )


def test_trained_without_clearance_is_not_released(requester, make_dataset, register, api_client_for):
    conf = make_dataset("confidential")
    mv = register(requester, [conf.urn])
    assert not mv.cleared
    reasons = deployment(api_client_for(requester), mv).json()["models"][0]["reasons"]
    assert "training data: not cleared for training when the version was registered" in reasons


def test_model_urns_versions_and_lists(owner, make_dataset, register, api_client_for):
    pub = make_dataset("public")
    v1 = register(owner, [pub.urn], version="1")
    v2 = register(owner, [pub.urn], version="2")
    other = register(owner, [pub.urn], name="churn@eu", version="7")
    client = api_client_for(owner)
    latest = deployment(client, "model:mlflow://ml:5000:scorer").json()
    assert latest["models"][0]["id"] == v2.pk
    assert deployment(client, "model:mlflow://ml:5000:scorer@1").json()["models"][0]["id"] == v1.pk
    # An "@" that is part of the name.
    assert deployment(client, "model:mlflow://ml:5000:churn@eu").json()["models"][0]["id"] == other.pk
    both = client.get(
        "/api/v1/clearance",
        {
            "models": "model:mlflow://ml:5000:scorer@1,model:mlflow://ml:5000:churn@eu@7",
            "purpose": "deployment",
        },
    ).json()
    assert [m["id"] for m in both["models"]] == [v1.pk, other.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"models": "model:mlflow://ml:5000:nope", "purpose": "deployment"}, "models"),
        ({"models": "model:mlflow://ml:5000:scorer@9", "purpose": "deployment"}, "models"),
        ({"models": "scorer", "purpose": "deployment"}, "models"),
        ({"purpose": "deployment"}, "models"),
        ({"purpose": "deployment", "datasets": "dataset:s3://lake:x"}, "datasets"),
        ({"models": "model:mlflow://ml:5000:scorer", "purpose": "training"}, "purpose"),
        ({"models": "model:mlflow://ml:5000:scorer"}, "purpose"),
        ({"models": "model:ml\x00:scorer", "purpose": "deployment"}, "models"),
        ({"models": "model:" + ":" * 600 + "x@1", "purpose": "deployment"}, "models"),
        ({"models": "model:" + "n" * 800, "purpose": "deployment"}, "models"),
        ({"models": [f"model:ml:m{i}" for i in range(21)], "purpose": "deployment"}, "models"),
    ],
)
def test_bad_deployment_questions(owner, make_dataset, register, api_client_for, params, field):
    register(owner, [make_dataset("public").urn])
    r = api_client_for(owner).get("/api/v1/clearance", params)
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]


def test_deployment_is_no_access_request_purpose(requester, make_dataset, api_client_for):
    conf = make_dataset("confidential")
    r = api_client_for(requester).post(
        "/api/v1/access-requests/",
        {"datasets": [conf.urn], "purpose": "deployment", "justification": "x"},
        format="json",
    )
    assert r.status_code == 400 and "purpose" in r.json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"max_equalized_odds_difference": -0.1},
        {"max_equalized_odds_difference": 1.5},
        {"min_accuracy": 2},
        {"min_accuracy": "high"},
        {"require_independent_evaluation": "maybe"},
        {"max_eod": 0.1},
    ],
)
def test_bad_thresholds_are_refused(owner, make_dataset, register, api_client_for, body):
    mv = register(owner, [make_dataset("public").urn])
    r = api_client_for(owner).put(f"/api/v1/models/{mv.pk}/policy", body, format="json")
    assert r.status_code == 400, r.content
    assert set(r.json()["errors"]) == set(body)
    assert (
        not ModelPolicy.objects.exists()
        and not AuditRecord.objects.filter(action="model_policy.changed").exists()
    )


def test_service_refuses_non_finite_values(owner, make_dataset, register):
    mv = register(owner, [make_dataset("public").urn])
    with pytest.raises(Exception, match="between 0 and 1"):
        release.set_model_policy(actor=owner, model_version=mv, min_accuracy=float("nan"))


def test_policy_set_by_owner_binds_every_version_and_is_audited(
    owner, outsider, staff, make_dataset, register, api_client_for
):
    pub = make_dataset("public")
    v1 = register(owner, [pub.urn], version="1")
    v2 = register(owner, [pub.urn], version="2")
    assert api_client_for(owner).get(f"/api/v1/models/{v1.pk}/policy").json()["updated_at"] is None
    r = api_client_for(outsider).patch(f"/api/v1/models/{v1.pk}/policy", {"min_accuracy": 0.1}, format="json")
    assert r.status_code == 403
    r = api_client_for(staff).patch(f"/api/v1/models/{v1.pk}/policy", {"min_accuracy": 0.9}, format="json")
    assert r.status_code == 200
    # Read through the other version: one policy per model; a partial change keeps the rest.
    r = api_client_for(owner).patch(
        f"/api/v1/models/{v2.pk}/policy", {"require_independent_evaluation": True}, format="json"
    )
    assert r.json()["min_accuracy"] == 0.9 and r.json()["require_independent_evaluation"] is True
    records = AuditRecord.objects.filter(action="model_policy.changed").order_by("seq")
    assert [rec.actor for rec in records] == [staff.username, owner.username]
    assert (
        records[1].before["min_accuracy"] == 0.9
        and records[1].after["require_independent_evaluation"] is True
    )
    found = api_client_for(owner).get("/api/v1/audit/", {"object": "model:mlflow://ml:5000:scorer"}).json()
    assert found["count"] == 2


def test_model_page_shows_the_release_check_and_sets_the_policy(web, owner, outsider, make_dataset, register):
    train, held_out = make_dataset("public"), make_dataset("public")
    mv = register(owner, [train.urn])
    page = reverse("governance:model", args=[mv.pk])
    url = reverse("governance:model-policy", args=[mv.pk])

    html = web(outsider).get(page).content.decode()
    assert 'id="release-check" data-allowed="true"' in html and 'id="policy-edit"' not in html
    assert web(outsider).post(url, {"min_accuracy": "0.5"}).status_code == 403

    owner_client = web(owner)
    assert 'id="policy-edit"' in owner_client.get(page).content.decode()
    bad = owner_client.post(url, {"min_accuracy": "1.5"})
    assert bad.status_code == 400 and not ModelPolicy.objects.exists()
    saved = owner_client.post(url, {"min_accuracy": "0.8", "max_equalized_odds_difference": "0.1"})
    assert saved.status_code == 302
    policy = ModelPolicy.objects.get(model=mv.model)
    assert (policy.min_accuracy, policy.max_equalized_odds_difference) == (0.8, 0.1)
    assert AuditRecord.objects.get(action="model_policy.changed").via == "ui"

    evaluation(mv, held_out, accuracy=0.72, groups=GROUPS_UNFAIR)
    html = owner_client.get(page).content.decode()
    assert 'data-allowed="false"' in html
    assert "equalized-odds difference on &#x27;sex&#x27; is 0.23 (&gt; 0.10)" in html


def test_the_release_check_only_reads(owner, make_dataset, register):
    train, held_out = make_dataset("confidential"), make_dataset("public")
    mv = register(owner, [train.urn])
    ModelPolicy.objects.create(model=mv.model, max_equalized_odds_difference=0.1, min_accuracy=0.8)
    evaluation(mv, held_out, groups=GROUPS_UNFAIR)
    with no_writes() as seen:
        answer = release.evaluate_deployment(principal=owner, urns=[release.model_urn(mv)])
    assert seen and answer["allowed"] is False


def test_trained_for_someone_gone_refuses_gated_data(
    requester, steward, make_dataset, register, api_client_for
):
    conf = make_dataset("confidential")
    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    mv = register(requester, [conf.urn])
    requester.is_active = False
    requester.save()
    body = deployment(api_client_for(steward), mv).json()
    assert body["allowed"] is False and body["models"][0]["trained_for"] is None
    assert any("no active user is named" in x for x in body["models"][0]["reasons"])
