"""PUT/GET /api/v1/datasets/{id}/monitor and /api/v1/alerts/: the owner / steward / outsider trio,
bad input answered 400 naming the field with nothing written, the alert steps."""

import pytest
from django_celery_beat.models import PeriodicTask

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import monitors
from profiling.models import Alert, Monitor, ProfileRun

pytestmark = pytest.mark.django_db

GOOD = {
    "schedule": "0 3 * * *",
    "reference": "previous",
    "rules": [
        {"metric": "psi", "column": "age", "op": ">", "threshold": 0.25},
        {"metric": "quality_score", "op": "<", "threshold": 0.9},
        {"metric": "freshness_hours", "threshold": 48},
    ],
}


@pytest.fixture
def ds(owner, steward, data_root):
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="loans",
        stewards=[steward.username],
        sensitivity="confidential",
        sensitive_columns=["gender"],
    )
    path = data_root / "loans.csv"
    path.write_text("id,age,gender\n1,30,F\n2,40,M\n")
    version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    ProfileRun.objects.create(
        version=version,
        dataset=dataset,
        version_number=1,
        status="succeeded",
        quality={"success": False, "score": 0.5, "results": [{"success": False}]},
        bias={"attributes": {"gender": {"groups": {"F": {"share": 0.05}, "M": {"share": 0.95}}}}},
    )
    return dataset


def url(ds):
    return f"/api/v1/datasets/{ds.pk}/monitor"


def test_put_and_get(ds, owner, steward, outsider, api_client_for):
    answer = api_client_for(steward).put(url(ds), GOOD, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["schedule"] == "0 3 * * *" and body["reference"] == "previous"
    assert [r["metric"] for r in body["rules"]] == ["psi", "quality_score", "freshness_hours"]
    assert body["rules"][1]["alert"] is not None  # quality 0.5 < 0.9 on the latest profile
    assert [(r["state"], r["value"], r["judged_version"]) for r in body["rules"]] == [
        ("unknown", None, 1),  # version 1 has nothing to compare with
        ("firing", 0.5, 1),
        (None, None, None),  # freshness: judged by the sweep
    ]
    assert body["freshness_due_at"] and body["updated_by"] == steward.username
    read = api_client_for(outsider).get(url(ds) + "/")
    assert read.status_code == 200 and read.json()["rules"] == body["rules"]
    assert api_client_for(outsider).put(url(ds), GOOD, format="json").status_code == 403
    pinned = api_client_for(owner).put(url(ds), {"reference": 1, "rules": []}, format="json")
    assert pinned.json()["reference"] == 1 and pinned.json()["schedule"] is None
    assert not PeriodicTask.objects.filter(task="profiling.run_monitor").exists()


def test_an_empty_monitor_reads_as_defaults(ds, outsider, anon_client, api_client_for):
    body = api_client_for(outsider).get(url(ds)).json()
    assert body["rules"] == [] and body["reference"] == "previous" and body["schedule"] is None
    assert anon_client.get(url(ds)).status_code == 401
    assert api_client_for(outsider).get("/api/v1/datasets/999999/monitor").status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"schedule": "every day", "rules": []}, "schedule", "5 cron fields"),
        ({"schedule": "61 * * * *", "rules": []}, "schedule", "not a valid cron field"),
        ({"schedule": 5, "rules": []}, "schedule", "cron expression"),
        ({"rules": [{"metric": "psi", "threshold": "high"}]}, "rules.0.threshold", "A number"),
        ({"rules": [{"metric": "psi"}, {"metric": "psi", "column": "salary"}]}, "rules.1.column", "'salary'"),
        ({"rules": [{"metric": "drift"}]}, "rules.0.metric", "one of"),
        ({"reference": 7, "rules": []}, "reference", "no version 7"),
        ({"reference": "latest", "rules": []}, "reference", "previous"),
        ({"rules": "psi"}, "rules", "A list"),
        ({"rules": [], "owner": "x"}, "owner", "Not a field"),
    ],
)
def test_bad_input_is_refused_naming_it_and_writes_nothing(ds, owner, api_client_for, body, field, words):
    answer = api_client_for(owner).put(url(ds), body, format="json")
    assert answer.status_code == 400, answer.content
    errors = answer.json()["errors"]
    assert field in errors and words in " ".join(errors[field]), errors
    assert not Monitor.objects.exists() and not Alert.objects.exists()
    assert not PeriodicTask.objects.filter(task="profiling.run_monitor").exists()


def test_alert_list_filters_and_steps(ds, owner, steward, outsider, api_client_for):
    monitors.set_monitor(actor=owner, dataset=ds, rules=[{"metric": "quality_score", "threshold": 0.9}])
    alert = Alert.objects.get()
    listed = api_client_for(outsider).get("/api/v1/alerts/", {"dataset": ds.urn, "status": "open"}).json()
    assert [a["id"] for a in listed["results"]] == [alert.pk]
    assert listed["results"][0]["figures"]["value"] == 0.5 and listed["results"][0]["dataset_urn"] == ds.urn
    assert api_client_for(outsider).get("/api/v1/alerts/", {"status": "resolved"}).json()["count"] == 0
    assert api_client_for(outsider).get("/api/v1/alerts/", {"status": "closed"}).status_code == 400
    unknown = api_client_for(outsider).get("/api/v1/alerts/", {"dataset": "dataset:no:such"})
    assert unknown.status_code == 400 and "dataset" in unknown.json()["errors"]

    base = f"/api/v1/alerts/{alert.pk}"
    assert api_client_for(outsider).post(base + "/acknowledge", {}, format="json").status_code == 403
    ack = api_client_for(steward).post(base + "/acknowledge", {"comment": "on it"}, format="json")
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert api_client_for(steward).post(base + "/acknowledge", {}, format="json").status_code == 409
    bad = api_client_for(owner).post(base + "/resolve", {"comment": "x" * 3000}, format="json")
    assert bad.status_code == 400 and Alert.objects.get().status == "acknowledged"
    done = api_client_for(owner).post(base + "/resolve/", {"comment": "fixed"}, format="json").json()
    assert done["status"] == "resolved" and done["resolved_by"] == owner.username
    assert [h["status"] for h in done["history"]] == ["open", "acknowledged", "resolved"]
    assert api_client_for(owner).post(base + "/resolve", {}, format="json").status_code == 409
    assert api_client_for(outsider).get(base).json()["resolution"] == "by_hand"


def test_group_names_are_hidden_from_those_who_may_not_see_values(ds, owner, outsider, api_client_for):
    rules = [{"metric": "group_share", "column": "gender", "group": "F", "threshold": 0.1}]
    monitors.set_monitor(actor=owner, dataset=ds, rules=rules)
    alert = Alert.objects.get()
    mine = api_client_for(owner).get(f"/api/v1/alerts/{alert.pk}").json()
    assert mine["rule"]["group"] == "F" and mine["figures"]["group"] == "F"
    theirs = api_client_for(outsider).get(f"/api/v1/alerts/{alert.pk}").json()
    assert theirs["rule"]["group"] == "(hidden)" and theirs["figures"]["group"] == "(hidden)"
    assert "F" not in theirs["message"].replace("Group", "") and "figures" not in theirs["history"][0]
    assert api_client_for(outsider).get(url(ds)).json()["rules"][0]["group"] == "(hidden)"
