"""Monitor rules: what a person may send, and each metric firing and passing on a version's figures."""

import pytest
from django.core.exceptions import ValidationError

from profiling.monitor_rules import Snapshot, clean_rules, evaluate, evaluate_freshness

COLUMNS = ["age", "income", "gender", "email"]


def rule(metric, **kw):
    (cleaned,) = clean_rules([{"metric": metric, **kw}], columns=COLUMNS, sensitive_columns=["gender"])
    return cleaned


def drift(**columns):
    return {"previous_version": 1, "columns": columns, "schema_changes": []}


def snap(**kw):
    return Snapshot(version=2, reference=1, **kw)


# -- checking rules ---------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    assert rule("psi") == {"metric": "psi", "column": "", "group": "", "op": ">", "threshold": 0.2}
    assert rule("ks_pvalue", column="age")["op"] == "<" and rule("ks_pvalue")["threshold"] == 0.05
    assert rule("pii")["threshold"] == 0 and rule("schema_change")["op"] == ">"
    assert rule("quality_score", threshold=0.9)["op"] == "<"


@pytest.mark.parametrize(
    ("sent", "key", "words"),
    [
        ({"metric": "accuracy"}, "rules.0.metric", "one of"),
        ({"metric": "psi", "threshold": "0.2"}, "rules.0.threshold", "A number"),
        ({"metric": "psi", "threshold": True}, "rules.0.threshold", "A number"),
        ({"metric": "psi", "threshold": float("nan")}, "rules.0.threshold", "A number"),
        ({"metric": "null_fraction"}, "rules.0.threshold", "needs a threshold"),
        ({"metric": "null_fraction", "threshold": 1.5}, "rules.0.threshold", "between 0 and 1"),
        ({"metric": "freshness_hours", "threshold": 0}, "rules.0.threshold", "above 0"),
        ({"metric": "psi", "column": "salary"}, "rules.0.column", "'salary' is not a column"),
        ({"metric": "psi", "op": ">="}, "rules.0.op", "'>' or '<'"),
        ({"metric": "pii", "op": "<"}, "rules.0.op", "'>'"),
        ({"metric": "quality_score", "threshold": 0.5, "column": "age"}, "rules.0.column", "give no column"),
        ({"metric": "psi", "group": "F"}, "rules.0.group", "Only group_share"),
        ({"metric": "group_share", "threshold": 0.1}, "rules.0.column", "sensitive column"),
        ({"metric": "group_share", "column": "age", "threshold": 0.1}, "rules.0.column", "not one of"),
        ({"metric": "psi", "colum": "age"}, "rules.0.colum", "Not a field"),
        ("psi", "rules.0", "A rule is an object"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_field(sent, key, words):
    with pytest.raises(ValidationError) as refused:
        clean_rules([sent], columns=COLUMNS, sensitive_columns=["gender"])
    assert key in refused.value.message_dict, refused.value.message_dict
    assert words in " ".join(refused.value.message_dict[key])


def test_the_second_rule_is_named_and_duplicates_refused():
    with pytest.raises(ValidationError) as refused:
        clean_rules(
            [{"metric": "psi"}, {"metric": "psi", "column": "nope"}, {"metric": "psi"}],
            columns=COLUMNS,
            sensitive_columns=[],
        )
    assert set(refused.value.message_dict) == {"rules.1.column", "rules.2"}
    with pytest.raises(ValidationError, match="A list of rules"):
        clean_rules({"metric": "psi"}, columns=COLUMNS, sensitive_columns=[])


def test_a_dataset_without_columns_says_so():
    with pytest.raises(ValidationError, match="store a version first"):
        clean_rules([{"metric": "psi", "column": "age"}], columns=[], sensitive_columns=[])


# -- each metric fires and passes -------------------------------------------------------------------


def test_psi_over_every_column_and_one():
    fired = evaluate(rule("psi"), snap(drift=drift(age={"psi": 0.5}, income={"psi": 0.01})))
    assert fired.fired and fired.value == 0.5 and fired.figures["columns"] == {"age": 0.5}
    assert fired.figures["reference"] == 1 and "age" in fired.message
    assert (
        evaluate(
            rule("psi", column="income"), snap(drift=drift(age={"psi": 0.5}, income={"psi": 0.01}))
        ).fired
        is False
    )
    assert evaluate(rule("psi"), snap(drift=drift(age={"psi": 0.1}))).fired is False
    # No reference: this version cannot say.
    assert evaluate(rule("psi"), Snapshot(version=1)).fired is None


def test_ks_pvalue_fires_below():
    r = rule("ks_pvalue", column="age")
    assert evaluate(r, snap(drift=drift(age={"ks_pvalue": 0.001}))).fired is True
    assert evaluate(r, snap(drift=drift(age={"ks_pvalue": 0.4}))).fired is False
    assert evaluate(r, snap(drift=drift(age={"ks_pvalue": None}))).fired is None


def test_quality_score():
    r = rule("quality_score", threshold=0.9)
    assert evaluate(r, snap(quality={"score": 0.5, "success": False, "results": [{}]})).fired is True
    assert evaluate(r, snap(quality={"score": 1.0, "success": True, "results": [{}]})).fired is False
    assert evaluate(r, snap(quality={"score": 1.0, "success": True, "results": []})).fired is None


def test_null_fraction():
    r = rule("null_fraction", column="income", threshold=0.1)
    cols = [{"name": "income", "null_fraction": 0.3}, {"name": "age", "null_fraction": 0.0}]
    assert evaluate(r, snap(columns=cols)).figures["value"] == 0.3
    assert evaluate(r, snap(columns=cols)).fired is True
    assert evaluate(r, snap(columns=[{"name": "income", "null_fraction": 0.05}])).fired is False


def test_group_share_one_group_and_any():
    bias = {"attributes": {"gender": {"groups": {"F": {"share": 0.05}, "M": {"share": 0.95}}}}}
    one = evaluate(rule("group_share", column="gender", group="F", threshold=0.1), snap(bias=bias))
    assert one.fired and one.figures["group"] == "F" and one.value == 0.05
    assert (
        evaluate(rule("group_share", column="gender", group="M", threshold=0.1), snap(bias=bias)).fired
        is False
    )
    assert evaluate(rule("group_share", column="gender", threshold=0.1), snap(bias=bias)).fired is True
    # A group that vanished has a share of 0.
    gone = evaluate(rule("group_share", column="gender", group="X", threshold=0.1), snap(bias=bias))
    assert gone.fired and gone.value == 0
    assert evaluate(rule("group_share", column="gender", threshold=0.1), snap(bias=None)).fired is None


def test_new_personal_data_against_the_reference():
    r = rule("pii")
    found = evaluate(r, snap(pii={"email": ["email"], "age": []}, reference_pii={}))
    assert found.fired and found.figures["new"] == {"email": ["email"]}
    assert evaluate(r, snap(pii={"email": ["email"]}, reference_pii={"email": ["email"]})).fired is False
    assert (
        evaluate(rule("pii", column="age"), snap(pii={"email": ["email"]}, reference_pii={})).fired is False
    )


def test_schema_change():
    changed = {
        "previous_version": 1,
        "columns": {},
        "schema_changes": [{"change": "removed", "column": "age"}],
    }
    assert evaluate(rule("schema_change"), snap(drift=changed)).fired is True
    assert evaluate(rule("schema_change", column="income"), snap(drift=changed)).fired is False
    assert evaluate(rule("schema_change"), snap(drift=drift())).fired is False
    assert evaluate(rule("schema_change"), Snapshot(version=1)).fired is None


def test_freshness():
    r = rule("freshness_hours", threshold=24)
    late = evaluate_freshness(r, hours=30.5, latest_version=3)
    assert late.fired and late.value == 30.5 and "version 3" in late.message
    assert evaluate_freshness(r, hours=2, latest_version=3).fired is False
