"""The model registry: registration with the clearance of the moment, cards in three renderings."""

import pytest

from governance import access_requests
from governance.models import AuditRecord, ModelVersion
from governance.tests.conftest import credit_csv, lineage_event

pytestmark = pytest.mark.django_db


def _register(client, trained_on, version="1", **extra):
    body = {"namespace": "ml", "name": "fraud", "version": version, "trained_on": trained_on, **extra}
    return client.post("/api/v1/models/", body, format="json")


def test_register_records_clearance_and_versions(
    requester, owner, steward, make_dataset, add_version, api_client_for
):
    conf = make_dataset(
        "confidential", sensitive_columns=["gender"], label_column="approved", positive_label=1
    )
    v1 = add_version(conf, credit_csv(60))
    pub = make_dataset("public")
    client = api_client_for(requester)

    r = _register(client, [f"{conf.urn}@{v1.number}", pub.urn], run_id="run-1")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["cleared"] is False and body["owner"] == requester.username
    assert body["trained_on"] == [f"{conf.urn}@1", pub.urn]
    assert body["clearance"]["datasets"][0]["allowed"] is False
    rec = AuditRecord.objects.filter(action="model.registered").get()
    assert rec.after["cleared"] is False and rec.object_id == str(body["id"])
    assert set(rec.object_urns) == {conf.urn, pub.urn}

    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    second = _register(client, [conf.urn], version="2").json()
    # Without "@<version>" the latest version at registration is recorded (QA F9).
    assert second["cleared"] is True and second["trained_on"] == [f"{conf.urn}@1"]

    listed = client.get("/api/v1/models/", {"name": "fraud"}).json()
    assert listed["count"] == 2
    assert client.get(f"/api/v1/models/{second['id']}/").json()["version"] == "2"


@pytest.mark.parametrize(
    "trained_on, message",
    [
        (["dataset:s3://lake:ghost"], "Unknown dataset"),
        (["not-a-urn"], "Not a dataset URN"),
        ([], "trained_on"),
    ],
)
def test_bad_registrations(requester, api_client_for, trained_on, message):
    r = _register(api_client_for(requester), trained_on)
    assert r.status_code == 400 and message in str(r.json())
    assert not ModelVersion.objects.exists()


def test_unknown_version_and_duplicates(requester, outsider, make_dataset, add_version, api_client_for):
    ds = make_dataset("public")
    add_version(ds, credit_csv(10))
    client = api_client_for(requester)
    r = _register(client, [f"{ds.urn}@7"])
    assert r.status_code == 400 and f"{ds.urn}@7" in r.json()["detail"]
    assert _register(client, [f"{ds.urn}@1"]).status_code == 201
    assert _register(client, [ds.urn]).status_code == 409
    # Someone else may not add versions to another's model.
    assert _register(api_client_for(outsider), [ds.urn], version="9").status_code == 403


def test_card_renderings_and_owner_edits(
    requester, owner, steward, outsider, make_dataset, add_version, derive, api_client_for
):
    src = make_dataset("restricted", name="raw/applications")
    conf = make_dataset(
        "confidential",
        name="credit/applications",
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label=1,
    )
    derive(conf, src)
    add_version(conf, credit_csv(80))
    add_version(conf, credit_csv(80, seed=9, bias=0.4))
    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn, src.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    access_requests.approve_access_request(actor=owner, request=req)
    mv = _register(api_client_for(requester), [f"{conf.urn}@2"]).json()
    assert mv["cleared"] is True

    client = api_client_for(outsider)
    card = client.get(f"/api/v1/models/{mv['id']}/card").json()
    for key in (
        "model_details",
        "intended_use",
        "factors",
        "metrics",
        "evaluation_data",
        "training_data",
        "quantitative_analyses",
        "ethical_considerations",
        "caveats",
    ):
        assert key in card
    t = card["training_data"][0]
    assert t["urn"] == conf.urn and t["version"] == 2 and t["sensitivity"] == "confidential"
    # Of a confidential dataset the outsider gets no exact figure (docs/privacy.md); the cleared
    # requester gets the indicators.
    assert t["quality"] is None and t["bias"] is None and t["pii"] == {} and t["profiled_version"] == 2
    cleared = api_client_for(requester).get(f"/api/v1/models/{mv['id']}/card").json()
    c = cleared["training_data"][0]
    assert set(c["quality"]) == {"success", "score"}
    assert "gender" in c["bias"] and "email" in c["pii"]
    assert any("email" in w for w in cleared["ethical_considerations"]["pii_warnings"])
    # The outsider may not see the request elsewhere: the card gives its number only.
    assert t["approval"] == {"id": req.pk, "visible": False}
    seen = api_client_for(requester).get(f"/api/v1/models/{mv['id']}/card").json()["training_data"][0]
    assert seen["approval"]["id"] == req.pk and {a["approver"] for a in seen["approval"]["approvals"]} == {
        owner.username,
        steward.username,
    }
    assert t["lineage_sources"] == [src.urn]
    assert card["factors"]["sensitive_columns"] == {conf.urn: ["gender"]}

    # Only the owner edits intended use and caveats; they are sanitised when rendered.
    url = f"/api/v1/models/{mv['id']}/"
    assert client.patch(url, {"intended_use": "mine"}, format="json").status_code == 403
    assert api_client_for(steward).patch(url, {"caveats": "x"}, format="json").status_code == 403
    r = api_client_for(requester).patch(
        url,
        {"intended_use": "Scoring **fraud** <script>alert(1)</script>", "caveats": "Not for credit."},
        format="json",
    )
    assert r.status_code == 200 and r.json()["caveats"] == "Not for credit."
    bad = api_client_for(requester).patch(url, {"cleared": True}, format="json")
    assert (
        bad.status_code == 200 and ModelVersion.objects.get(pk=mv["id"]).cleared is True
    )  # unknown keys ignored
    card = client.get(f"/api/v1/models/{mv['id']}/card").json()
    assert (
        "<strong>fraud</strong>" in card["intended_use"]["html"]
        and "<script>" not in card["intended_use"]["html"]
    )

    md = client.get(f"/api/v1/models/{mv['id']}/card", {"format": "md"})
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    for title in (
        "## Model details",
        "## Intended use",
        "## Training data",
        "## Caveats and recommendations",
    ):
        assert title in text
    assert f"### {conf.urn} version 2" in text and "Not for credit." in text
    assert client.get(f"/api/v1/models/{mv['id']}/card.md").content.decode() == text

    html = client.get(f"/api/v1/models/{mv['id']}/card.html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    page = html.content.decode()
    assert "<h2>Intended use</h2>" in page and "<script>" not in page
    assert client.get(f"/api/v1/models/{mv['id']}/card", {"format": "html"}).content.decode() == page
    assert client.get("/api/v1/models/999999/card").status_code == 404
    assert AuditRecord.objects.filter(action="model.card_edited").count() == 1


def test_uncleared_model_card_says_so(requester, make_dataset, api_client_for):
    restr = make_dataset("restricted")
    mv = _register(api_client_for(requester), [restr.urn]).json()
    card = api_client_for(requester).get(f"/api/v1/models/{mv['id']}/card").json()
    assert card["ethical_considerations"]["cleared_at_registration"] is False
    assert "WITHOUT clearance" in card["caveats"]["automatic"][0]
    assert "**no**" in api_client_for(requester).get(f"/api/v1/models/{mv['id']}/card.md").content.decode()


def test_model_registered_from_openlineage(
    owner, make_dataset, api_client_for, django_capture_on_commit_callbacks
):
    train = make_dataset("internal", name="features/train")
    event = lineage_event(
        job="train_fraud",
        inputs=[train],
        outputs=[
            {
                "namespace": "ml",
                "name": "fraud-ol",
                "facets": {
                    "datasetType": {"_producer": "x", "_schemaURL": "x", "datasetType": "MODEL"},
                    "version": {"_producer": "x", "_schemaURL": "x", "datasetVersion": "3"},
                },
            }
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client_for(owner).post("/api/v1/lineage", event, format="json")
    assert r.status_code == 201, r.content
    mv = ModelVersion.objects.select_related("model").get()
    assert (mv.model.namespace, mv.model.name, mv.version, mv.via) == ("ml", "fraud-ol", "3", "lineage")
    assert [i.dataset_urn for i in mv.inputs.all()] == [train.urn]
    assert mv.cleared is True and mv.lineage_node == "model:ml:fraud-ol"
    # The same event again registers nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        api_client_for(owner).post("/api/v1/lineage", event, format="json")
    assert ModelVersion.objects.count() == 1


def test_models_need_authentication(anon_client):
    assert anon_client.get("/api/v1/models/").status_code == 401
    assert anon_client.post("/api/v1/models/", {}, format="json").status_code == 401


def test_a_refused_lineage_model_is_logged_not_raised(make_dataset, caplog):
    from governance.receivers import on_model_output_recorded

    ds = make_dataset("internal")
    on_model_output_recorded(
        None, namespace="ml", name="x" * 300, version="1", run_id="r", inputs=[(ds.pk, None)]
    )
    assert not ModelVersion.objects.exists()
    assert "not registered" in caplog.text


def test_unversioned_training_data_records_the_latest_version(
    requester, make_dataset, add_version, api_client_for
):
    """QA F9: "trained_on" without "@<version>" keeps the number that was latest at that moment."""
    ds = make_dataset("public")
    add_version(ds, credit_csv(10, seed=1))
    add_version(ds, credit_csv(12, seed=2))
    empty = make_dataset("internal")
    client = api_client_for(requester)
    mv = _register(client, [ds.urn, empty.urn]).json()
    assert mv["trained_on"] == [f"{ds.urn}@2", empty.urn]
    add_version(ds, credit_csv(14, seed=3))  # a newer version later does not change what the model saw
    card = client.get(f"/api/v1/models/{mv['id']}/card").json()
    by_urn = {t["urn"]: t["version"] for t in card["training_data"]}
    assert by_urn == {ds.urn: 2, empty.urn: None}
    assert "version 2" in client.get(f"/api/v1/models/{mv['id']}/card.md").content.decode()


def _model_output(name, **facets):
    base = {"datasetType": {"_producer": "x", "_schemaURL": "x", "datasetType": "MODEL"}}
    return {"namespace": "ml", "name": name, "facets": {**base, **facets}}


def test_lineage_model_owner_from_the_ownership_facet(
    owner, requester, make_dataset, api_client_for, django_capture_on_commit_callbacks
):
    """QA F27: a model first seen in OpenLineage gets an owner, who may then write its card."""
    train = make_dataset("internal", name="features/train-owned")
    ownership = {"_producer": "x", "_schemaURL": "x", "owners": [{"name": f"user:{requester.username}"}]}
    event = lineage_event(
        job="train_owned", inputs=[train], outputs=[_model_output("owned", ownership=ownership)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client_for(owner).post("/api/v1/lineage", event, format="json").status_code == 201
    mv = ModelVersion.objects.select_related("model").get()
    assert mv.model.owner == requester
    r = api_client_for(requester).patch(
        f"/api/v1/models/{mv.pk}/", {"intended_use": "fraud triage"}, format="json"
    )
    assert r.status_code == 200, r.content


def test_lineage_model_owner_from_the_signal_actor(owner, requester, make_dataset):
    """The signal's optional actor (the user who posted the event) owns a new model."""
    from lineage import signals as lineage_signals

    train = make_dataset("internal", name="features/train-actor")
    lineage_signals.model_output_recorded.send(
        sender=None,
        namespace="ml",
        name="by-actor",
        version="1",
        run_id="r1",
        job="job:x:y",
        inputs=[(train.pk, None)],
        actor=requester,
    )
    mv = ModelVersion.objects.select_related("model").get()
    assert mv.model.owner == requester and mv.via == "lineage"
    # Without an actor or an ownership facet nobody owns it: only staff edit its card.
    lineage_signals.model_output_recorded.send(
        sender=None,
        namespace="ml",
        name="orphan",
        version="1",
        run_id="r2",
        job="job:x:y",
        inputs=[(train.pk, None)],
    )
    assert ModelVersion.objects.get(model__name="orphan").model.owner is None


def test_lineage_model_without_ownership_facet_belongs_to_the_poster(
    requester, make_dataset, api_client_for, django_capture_on_commit_callbacks
):
    """QA F27: lineage passes the posting user along; with no ownership facet, they own the new model."""
    train = make_dataset("internal", name="features/train-posted")
    event = lineage_event(job="train_posted", inputs=[train], outputs=[_model_output("posted")])
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client_for(requester).post("/api/v1/lineage", event, format="json").status_code == 201
    assert ModelVersion.objects.select_related("model").get().model.owner == requester


def test_a_model_trained_on_two_versions_of_one_dataset(owner, make_dataset, add_version, api_client_for):
    """QA G8: both versions of the same dataset in trained_on was a 500."""
    pub = make_dataset("public")
    add_version(pub, credit_csv(40))
    add_version(pub, credit_csv(50, seed=2))
    r = _register(api_client_for(owner), [f"{pub.urn}@1", f"{pub.urn}@2"])
    assert r.status_code == 201, r.content[:300]
    assert r.json()["trained_on"] == [f"{pub.urn}@1", f"{pub.urn}@2"]


def test_card_renderings_show_names_as_written(owner, make_dataset, api_client_for):
    """QA G10: names were Markdown in the cards: <v2> vanished, *x* and [x](y) became markup, and the
    Markdown card carried <script> raw."""
    pub = make_dataset("public", name="odd/*star*_[link](x)")
    client = api_client_for(owner)
    name = "clf<v2> & co *bold* [x](y)<script>alert(1)</script>"
    r = client.post(
        "/api/v1/models/",
        {"namespace": "mlflow://prod", "name": name, "version": "1", "trained_on": [pub.urn]},
        format="json",
    )
    assert r.status_code == 201, r.content
    html = client.get(f"/api/v1/models/{r.json()['id']}/card.html").content.decode()
    h1 = html.split("<h1>")[1].split("</h1>")[0]
    assert (
        h1
        == "Model card: mlflow://prod/clf&lt;v2&gt; &amp; co *bold* [x](y)&lt;script&gt;alert(1)&lt;/script&gt; version 1"
    )
    assert "<em>bold" not in html and 'href="y"' not in html and "<script>" not in html
    assert "odd/*star*_[link](x)" in html
    md = client.get(f"/api/v1/models/{r.json()['id']}/card.md").content.decode()
    assert "<script>" not in md and "clf&lt;v2&gt;" in md


def test_registering_with_the_run_id_of_a_pipeline_run_records_the_model(
    owner, steward, make_dataset, api_client_for
):
    """QA G9: the runId of a run lineage already held (another job's) made registration skip the
    training run: no model node, the card's lineage_node a 404."""
    import uuid

    from lineage.models import Run

    train = make_dataset("internal", name="features/g9")
    pipeline_run = str(uuid.uuid4())
    event = lineage_event(job="build_g9", inputs=[train], outputs=[], run_id=pipeline_run)
    assert api_client_for(owner).post("/api/v1/lineage", event, format="json").status_code == 201
    r = _register(api_client_for(owner), [train.urn], run_id=pipeline_run)
    assert r.status_code == 201, r.content
    node = r.json()["lineage_node"]
    graph = api_client_for(owner).get("/api/v1/lineage", {"nodeId": node, "direction": "upstream"})
    assert graph.status_code == 200 and f"dataset:{train.namespace}:{train.name}" in {
        n["id"] for n in graph.json()["graph"]
    }
    child = Run.objects.exclude(run_id=pipeline_run).get(job__name="train:fraud")
    assert child.facets["parent"]["run"]["runId"] == pipeline_run
    # Another version trained in the same pipeline run: its own child run.
    again = _register(api_client_for(owner), [train.urn], version="2", run_id=pipeline_run)
    assert again.status_code == 201, again.content
