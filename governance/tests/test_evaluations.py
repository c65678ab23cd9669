"""Model evaluations: figures equal to Fairlearn's, the API (202, list, detail), bad input refused at
once or failed with a readable error, the overlap warning, who may ask and who sees group names."""

import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn.metrics import roc_auc_score

from governance.evaluation_metrics import METRICS, compute, groups_of
from governance.models import AuditRecord, Event, ModelEvaluation

pytestmark = pytest.mark.django_db


def predictions_csv(
    rows: int = 400, *, seed: int = 3, third: str | None = None, nan_score: bool = False
) -> str:
    """Predictions of a credit model: label, prediction, score, and two sensitive columns."""
    rnd = random.Random(seed)
    lines = ["id,gender,region,approved,predicted,score"]
    for i in range(rows):
        gender = "M" if i % 2 else "F"
        region = rnd.choice(["north", "south", "east"])
        label = int(rnd.random() < (0.55 if gender == "M" else 0.4))
        score = min(max(rnd.gauss(0.6 if label else 0.4, 0.2), 0.0), 1.0)
        predicted = int(score > 0.5)
        lines.append(f"{i},{gender},{region},{label},{predicted},{score:.6f}")
    if third:
        lines.append(f"{rows},F,north,{third},1,0.5")
    if nan_score:
        lines.append(f"{rows + 1},M,south,1,1,")
    return "\n".join(lines) + "\n"


@pytest.fixture
def setup(owner, make_dataset, add_version, api_client_for):
    """A model trained on one dataset, and an evaluation dataset (confidential) of its predictions."""
    training = make_dataset(
        "internal", sensitive_columns=["gender"], label_column="approved", positive_label=1
    )
    tv = add_version(training, predictions_csv(100, seed=9))
    evald = make_dataset("confidential", sensitive_columns=["gender", "region"])
    ev_version = add_version(evald, predictions_csv())
    client = api_client_for(owner)
    r = client.post(
        "/api/v1/models/",
        {"namespace": "ml", "name": "credit", "version": "1", "trained_on": [f"{training.urn}@{tv.number}"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    return {"model": r.json()["id"], "eval": evald, "version": ev_version, "training": training, "tv": tv}


def _post(client, model_id, **body):
    return client.post(f"/api/v1/models/{model_id}/evaluations", body, format="json")


def _evaluate(client, setup, django_capture_on_commit_callbacks, **extra):
    body = {
        "dataset": f"{setup['eval'].urn}@{setup['version'].number}",
        "label_column": "approved",
        "prediction_column": "predicted",
        **extra,
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = _post(client, setup["model"], **body)
    assert r.status_code == 202, r.content
    assert set(r.json()) == {"id", "status"}
    return client.get(f"/api/v1/models/{setup['model']}/evaluations/{r.json()['id']}").json()


# --------------------------------------------------------------------------- figures vs Fairlearn
def _arrays(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int8)
    p = np.where(rng.random(n) < 0.8, y, 1 - y).astype(np.int8)
    s = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    a = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    b = rng.choice(["x", "y"], n)
    return y, p, s, a, b


def test_figures_equal_fairlearns():
    y, p, s, a, b = _arrays()
    figs = compute(y, p, sensitive={"a": groups_of(pa.array(a)), "b": groups_of(pa.array(b))}, scores=s)
    for name, raw in (("a", a), ("b", b)):
        reference = MetricFrame(metrics=METRICS, y_true=y, y_pred=p, sensitive_features=raw)
        auc = MetricFrame(metrics=roc_auc_score, y_true=y, y_pred=s, sensitive_features=raw).by_group
        for group, row in reference.by_group.iterrows():
            for metric in METRICS:
                assert figs.by_group[name][group][metric] == pytest.approx(row[metric], abs=1e-9)
            assert figs.by_group[name][group]["roc_auc"] == pytest.approx(auc[group], abs=1e-9)
        for metric in METRICS:
            assert figs.overall[metric] == pytest.approx(reference.overall[metric], abs=1e-9)
        assert figs.equalized_odds_difference[name] == pytest.approx(
            equalized_odds_difference(y, p, sensitive_features=raw), abs=1e-9
        )
        assert figs.demographic_parity_difference[name] == pytest.approx(
            demographic_parity_difference(y, p, sensitive_features=raw), abs=1e-9
        )
    assert figs.overall["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert set(figs.by_group["a"]) == {"a", "b", "c"}


def test_a_group_with_one_class_is_a_caveat_not_a_crash():
    y = np.array([1, 0, 1, 1, 0, 0, 0, 0], dtype=np.int8)
    p = np.array([1, 0, 0, 1, 1, 0, 0, 0], dtype=np.int8)
    s = np.linspace(0, 1, 8)
    groups = groups_of(pa.array(["a", "a", "a", "a", "b", "b", "b", None]))
    figs = compute(y, p, sensitive={"g": groups}, scores=s)
    assert figs.by_group["g"]["b"]["roc_auc"] is None  # only negatives: undefined
    assert set(figs.by_group["g"]) == {"a", "b", "(missing)"}
    assert any("'b' of g has no positive label" in w for w in figs.warnings)
    assert any("only 4 rows" in w for w in figs.warnings)
    ref = MetricFrame(metrics=METRICS, y_true=y, y_pred=p, sensitive_features=pd.Series(groups))
    assert figs.by_group["g"]["b"]["recall"] == ref.by_group.loc["b", "recall"] == 0


# --------------------------------------------------------------------------- the API
def test_evaluation_through_the_api(owner, setup, api_client_for, django_capture_on_commit_callbacks):
    client = api_client_for(owner)
    body = _evaluate(client, setup, django_capture_on_commit_callbacks, score_column="score")
    assert body["status"] == "succeeded", body
    assert body["sensitive_columns"] == ["gender", "region"]
    assert set(body["by_group"]) == {"gender", "region"}
    assert set(body["by_group"]["gender"]) == {"F", "M"}
    assert set(body["by_group"]["gender"]["F"]) == {*METRICS, "roc_auc"}
    assert body["overall"]["count"] == 400 and 0 < body["overall"]["roc_auc"] <= 1
    assert body["overlaps_training"] is False and body["groups_hidden"] is False

    # The same figures as Fairlearn on the file's own columns.
    frame = pd.read_csv(setup["version"].local_path())
    assert body["equalized_odds_difference"]["region"] == pytest.approx(
        equalized_odds_difference(frame.approved, frame.predicted, sensitive_features=frame.region), abs=1e-9
    )
    assert body["demographic_parity_difference"]["gender"] == pytest.approx(
        demographic_parity_difference(frame.approved, frame.predicted, sensitive_features=frame.gender),
        abs=1e-9,
    )
    listed = client.get(f"/api/v1/models/{setup['model']}/evaluations/").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert AuditRecord.objects.filter(action="model.evaluation_requested").count() == 1
    done = AuditRecord.objects.get(action="model.evaluated")
    assert done.after["status"] == "succeeded" and done.object_id == str(setup["model"])
    event = Event.objects.get(name="model.evaluated")
    assert event.data["equalized_odds_difference"] == body["equalized_odds_difference"]
    assert "by_group" not in event.data


def test_overlap_with_training_data_is_warned(
    owner, setup, api_client_for, django_capture_on_commit_callbacks
):
    client = api_client_for(owner)
    body = {"dataset": f"{setup['training'].urn}@{setup['tv'].number}"}
    with django_capture_on_commit_callbacks(execute=True):
        r = _post(client, setup["model"], label_column="approved", prediction_column="predicted", **body)
    ev = client.get(f"/api/v1/models/{setup['model']}/evaluations/{r.json()['id']}").json()
    assert ev["status"] == "succeeded" and ev["overlaps_training"] is True
    assert any("trained on" in w for w in ev["warnings"])


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"label_column": "nope"}, 400, "no column 'nope'"),
        ({"prediction_column": "missing"}, 400, "no column 'missing'"),
        ({"score_column": "nothing"}, 400, "no column 'nothing'"),
        ({"dataset": "dataset:s3://lake:ghost@1"}, 400, "Unknown dataset"),
        ({"dataset": "{urn}@99"}, 400, "Unknown dataset version"),
        ({"dataset": "{urn}"}, 400, "<version number>"),
        ({"label_column": ""}, 400, "label_column"),
        ({"positive_label": {"a": 1}}, 400, "positive_label"),
    ],
)
def test_bad_requests_store_nothing(owner, setup, api_client_for, body, status, message):
    urn = setup["eval"].urn
    full = {
        "dataset": f"{urn}@{setup['version'].number}",
        "label_column": "approved",
        "prediction_column": "predicted",
        **{k: v.format(urn=urn) if isinstance(v, str) else v for k, v in body.items()},
    }
    r = _post(api_client_for(owner), setup["model"], **full)
    assert r.status_code == status and message in str(r.json()), r.content
    assert not ModelEvaluation.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="model.evaluat").exists()


def test_unknown_model_and_evaluation_are_404(owner, setup, api_client_for):
    client = api_client_for(owner)
    assert _post(client, 999999, dataset="x@1", label_column="a", prediction_column="b").status_code == 404
    assert client.get(f"/api/v1/models/{setup['model']}/evaluations/424242").status_code == 404


def test_who_may_evaluate_and_read(
    owner, outsider, steward, staff, setup, api_client_for, django_capture_on_commit_callbacks
):
    ref = {
        "dataset": f"{setup['eval'].urn}@{setup['version'].number}",
        "label_column": "approved",
        "prediction_column": "predicted",
    }
    # The dataset's steward may read its values but does not own the model.
    assert _post(api_client_for(steward), setup["model"], **ref).status_code == 403
    assert _post(api_client_for(outsider), setup["model"], **ref).status_code == 403
    ev = _evaluate(api_client_for(staff), setup, django_capture_on_commit_callbacks)
    assert ev["status"] == "succeeded"
    # An outsider reads the model's evaluation, but not the group names of confidential data.
    seen = api_client_for(outsider).get(f"/api/v1/models/{setup['model']}/evaluations/{ev['id']}").json()
    assert seen["groups_hidden"] is True and set(seen["by_group"]["gender"]) == {"group 1", "group 2"}
    assert seen["equalized_odds_difference"] == ev["equalized_odds_difference"]
    assert not any("'F'" in w or "'M'" in w for w in seen["warnings"])


def test_model_owner_who_may_not_read_the_data_is_refused(
    outsider, setup, make_dataset, add_version, api_client_for
):
    client = api_client_for(outsider)
    mine = client.post(
        "/api/v1/models/",
        {"namespace": "ml", "name": "own", "version": "1", "trained_on": [setup["training"].urn]},
        format="json",
    ).json()
    r = _post(
        client,
        mine["id"],
        dataset=f"{setup['eval'].urn}@{setup['version'].number}",
        label_column="approved",
        prediction_column="predicted",
    )
    assert r.status_code == 403 and "may not read the values" in r.json()["detail"]
    assert not ModelEvaluation.objects.exists()


@pytest.mark.parametrize(
    "csv, extra, message",
    [
        (predictions_csv(60, third="2"), {}, "3 distinct values"),
        (predictions_csv(60, nan_score=True), {"score_column": "score"}, "NaN, infinite or missing scores"),
        ("gender,approved,predicted\nF,yes,no\nM,no,no\n", {}, "ambiguous"),
        (
            "gender,approved,predicted\nF,yes,no\nM,no,no\n",
            {"positive_label": "maybe"},
            "not one of the values",
        ),
        ("gender,approved,predicted\nF,1,0.7\nM,0,0\n", {}, "another kind"),
    ],
)
def test_what_only_the_data_tells_fails_the_evaluation(
    owner,
    setup,
    make_dataset,
    add_version,
    api_client_for,
    django_capture_on_commit_callbacks,
    csv,
    extra,
    message,
):
    data = make_dataset("internal", sensitive_columns=["gender"])
    version = add_version(data, csv)
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        r = _post(
            client,
            setup["model"],
            dataset=f"{data.urn}@{version.number}",
            label_column="approved",
            prediction_column="predicted",
            **extra,
        )
    assert r.status_code == 202, r.content
    ev = client.get(f"/api/v1/models/{setup['model']}/evaluations/{r.json()['id']}").json()
    assert ev["status"] == "failed" and message in ev["error"], ev
    assert ev["overall"] == {} and ev["by_group"] == {}
    assert AuditRecord.objects.get(action="model.evaluated").after["status"] == "failed"


def test_text_labels_with_a_positive_label(
    owner, setup, make_dataset, add_version, api_client_for, django_capture_on_commit_callbacks
):
    data = make_dataset("public", sensitive_columns=["gender"])
    version = add_version(data, "gender,approved,predicted\nF,yes,no\nM,no,no\nF,yes,yes\nM,yes,yes\n")
    client = api_client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        r = _post(
            client,
            setup["model"],
            dataset=f"{data.urn}@{version.number}",
            label_column="approved",
            prediction_column="predicted",
            positive_label="yes",
        )
    ev = client.get(f"/api/v1/models/{setup['model']}/evaluations/{r.json()['id']}").json()
    assert ev["status"] == "succeeded", ev
    assert ev["overall"]["recall"] == pytest.approx(2 / 3) and ev["overall"]["precision"] == 1.0
    assert ev["by_group"]["gender"]["F"]["count"] == 2


# --------------------------------------------------------------------------- the card
def _closed(**properties) -> dict:
    """An object of exactly these optional fields: an unknown field fails validation."""
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _list_of(item: dict) -> dict:
    return {"type": "array", "items": item}


_TEXT = {"type": "string"}
_DESCRIBED = _closed(description=_TEXT)
_GRAPHICS = _closed(
    description=_TEXT,
    collection=_list_of(_closed(name=_TEXT, image={"type": "string", "contentEncoding": "base64"})),
)

# The field structure of a Model Card Toolkit v0.0.2 card, as ?format=mct must emit it: written here
# from the field names of MCT's schema (model_card_toolkit/schema/v0.0.2/model_card.schema.json),
# not copied from it. Every object is closed (stricter than MCT, which closes only the top level):
# a field MCT does not define is a mistake in our export and must fail the test.
MCT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    **_closed(
        schema_version=_TEXT,
        model_details=_closed(
            name=_TEXT,
            overview=_TEXT,
            documentation=_TEXT,
            owners=_list_of(_closed(name=_TEXT, contact=_TEXT)),
            version=_closed(name=_TEXT, date={"type": "string", "format": "date"}, diff=_TEXT),
            licenses=_list_of(
                {
                    **_closed(identifier=_TEXT, custom_text=_TEXT),
                    "oneOf": [{"required": ["identifier"]}, {"required": ["custom_text"]}],
                }
            ),
            references=_list_of(_closed(reference={"type": "string", "format": "uri"})),
            citations=_list_of(_closed(style=_TEXT, citation=_TEXT)),
            path=_TEXT,
        ),
        model_parameters=_closed(
            model_architecture=_TEXT,
            data=_list_of(
                _closed(
                    name=_TEXT,
                    link={"type": "string", "format": "uri"},
                    sensitive=_closed(sensitive_data=_list_of(_TEXT)),
                    graphics=_GRAPHICS,
                    description=_TEXT,
                )
            ),
            input_format=_TEXT,
            input_format_map=_list_of(_closed(key=_TEXT, value=_TEXT)),
            output_format=_TEXT,
            output_format_map=_list_of(_closed(key=_TEXT, value=_TEXT)),
        ),
        quantitative_analysis=_closed(
            performance_metrics=_list_of(
                {
                    **_closed(
                        type=_TEXT,
                        value=_TEXT,
                        slice=_TEXT,
                        confidence_interval=_closed(lower_bound=_TEXT, upper_bound=_TEXT),
                    ),
                    "required": ["type", "value"],
                }
            ),
            graphics=_GRAPHICS,
        ),
        considerations=_closed(
            users=_list_of(_DESCRIBED),
            use_cases=_list_of(_DESCRIBED),
            limitations=_list_of(_DESCRIBED),
            tradeoffs=_list_of(_DESCRIBED),
            ethical_considerations=_list_of(_closed(name=_TEXT, mitigation_strategy=_TEXT)),
        ),
    ),
}


def test_the_mct_schema_refuses_a_field_mct_does_not_define():
    import jsonschema

    good = {"model_details": {"name": "m", "version": {"name": "1", "date": "2026-01-02"}}}
    jsonschema.validate(good, MCT_SCHEMA, format_checker=jsonschema.FormatChecker())
    for wrong in (
        {"model_details": {"name": "m", "owner": "x"}},
        {"quantitative_analysis": {"performance_metrics": [{"type": "a", "value": "1", "group": "F"}]}},
        {"considerations": {"users": [{"name": "x"}]}},
        {"model_card": {}},
        {"model_details": {"version": {"name": "1", "date": "yesterday"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, MCT_SCHEMA, format_checker=jsonschema.FormatChecker())


def test_card_reports_evaluations_and_exports_mct(
    owner, outsider, setup, api_client_for, django_capture_on_commit_callbacks
):
    import jsonschema

    from governance import cards
    from governance.card_evaluations import disparity_marks
    from governance.models import ModelVersion

    client = api_client_for(owner)
    ev = _evaluate(client, setup, django_capture_on_commit_callbacks, score_column="score")
    card = client.get(f"/api/v1/models/{setup['model']}/card").json()
    [analysis] = card["quantitative_analyses"]["evaluations"]
    assert analysis["evaluation"] == ev["id"] and analysis["marks"] == []
    assert [c["column"] for c in analysis["columns"]] == ["gender", "region"]
    assert card["evaluation_data"]["datasets"][0]["dataset"] == ev["dataset"]
    md = client.get(f"/api/v1/models/{setup['model']}/card.md").content.decode()
    assert "#### By gender: equalized odds difference" in md and "| F |" in md

    # Marked against thresholds (a model policy's), naming the column and the metric.
    mv = ModelVersion.objects.get(pk=setup["model"])
    marked = cards.build_card(mv, viewer=owner, thresholds={"max_equalized_odds_difference": 0.0})
    assert any(
        "equalized odds difference on gender" in m
        for m in marked["quantitative_analyses"]["evaluations"][0]["marks"]
    )
    assert disparity_marks(ev, None) == []
    assert any("group F of gender" in m for m in disparity_marks(ev, {"min_accuracy": 1.0}))

    mct = client.get(f"/api/v1/models/{setup['model']}/card", {"format": "mct"})
    assert mct.status_code == 200, mct.content
    body = mct.json()
    jsonschema.validate(body, MCT_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["model_details"]["name"] == "ml/credit" and body["model_details"]["version"]["name"] == "1"
    metrics = {
        (m["type"], m["slice"]): m["value"] for m in body["quantitative_analysis"]["performance_metrics"]
    }
    assert float(metrics[("accuracy", "gender=F")]) == pytest.approx(
        ev["by_group"]["gender"]["F"]["accuracy"]
    )
    assert float(metrics[("equalized_odds_difference", "region")]) == pytest.approx(
        ev["equalized_odds_difference"]["region"]
    )
    assert {d["name"] for d in body["model_parameters"]["data"]} >= {ev["dataset"]}

    # An outsider's card hides the group names of the confidential evaluation data, in MCT too.
    theirs = api_client_for(outsider).get(f"/api/v1/models/{setup['model']}/card", {"format": "mct"}).json()
    jsonschema.validate(theirs, MCT_SCHEMA)
    slices = {m["slice"] for m in theirs["quantitative_analysis"]["performance_metrics"]}
    assert "gender=group 1" in slices and "gender=F" not in slices


def test_mct_of_a_card_without_evaluations_is_valid(owner, setup, api_client_for):
    import jsonschema

    body = api_client_for(owner).get(f"/api/v1/models/{setup['model']}/card?format=mct").json()
    jsonschema.validate(body, MCT_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["quantitative_analysis"]["performance_metrics"] == []


# --------------------------------------------------------------------------- the model page
def test_model_page_charts_and_list(
    owner, outsider, setup, api_client_for, web, django_capture_on_commit_callbacks
):
    ev = _evaluate(api_client_for(owner), setup, django_capture_on_commit_callbacks, score_column="score")
    page = web(owner).get(f"/models/{setup['model']}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'aria-label="Rates by group of gender: accuracy' in html  # the SVG chart, per column
    for rate in (
        "precision",
        "recall",
        "false positive rate",
        "false negative rate",
        "selection rate",
        "roc auc",
    ):
        assert f"; {rate} " in html  # every rate of the evaluation has its bars, ROC AUC with scores
    assert "; count " not in html  # a count is not a rate
    assert "equalized odds difference <strong>" in html
    assert f"/api/v1/models/{setup['model']}/evaluations/{ev['id']}" in html
    assert 'id="evaluate"' in html and "every 1s" not in html  # nothing running: no polling
    theirs = web(outsider).get(f"/models/{setup['model']}/").content.decode()
    assert 'id="evaluate"' not in theirs and "group 1" in theirs and ">F<" not in theirs


def test_start_an_evaluation_from_the_page(owner, outsider, setup, web):
    data = {
        "dataset": f"{setup['eval'].urn}@{setup['version'].number}",
        "label_column": "approved",
        "prediction_column": "predicted",
    }
    # Queued, not run (the commit never comes in this test): the list polls while it waits.
    r = web(owner).post(f"/models/{setup['model']}/evaluate/", data, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "every 1s" in r.content.decode()
    assert ModelEvaluation.objects.get().status == "queued"
    bad = web(owner).post(
        f"/models/{setup['model']}/evaluate/", {**data, "label_column": "nope"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 422 and "no column" in bad.content.decode()
    assert web(outsider).post(f"/models/{setup['model']}/evaluate/", data).status_code == 403
    assert ModelEvaluation.objects.count() == 1


def test_the_pipeline_that_registered_a_version_may_evaluate_it(
    owner, pipeline, setup, make_dataset, add_version, api_client_for
):
    client = api_client_for(pipeline)
    mv = client.post(
        "/api/v1/models/",
        {
            "namespace": "ml",
            "name": "for-owner",
            "version": "1",
            "trained_on": [setup["training"].urn],
            "principal": owner.username,
        },
        format="json",
    ).json()
    assert mv["owner"] == owner.username
    public = make_dataset("public", sensitive_columns=["gender"])
    version = add_version(public, predictions_csv(50))
    body = {
        "dataset": f"{public.urn}@{version.number}",
        "label_column": "approved",
        "prediction_column": "predicted",
    }
    assert _post(client, mv["id"], **body).status_code == 202
    # Another model of the owner's, which this account did not register: refused.
    assert _post(client, setup["model"], **body).status_code == 403
