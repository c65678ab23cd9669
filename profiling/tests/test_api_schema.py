"""The profile endpoints answer exactly what the served OpenAPI schema says, for a viewer who sees the
values and for one who does not: every required key present, every type right, and no key the schema
does not declare (Schemathesis fails CI on the first two; the third keeps the schema honest).

Real answers of real profiles (succeeded with bias and drift, pending, failed) are checked with
jsonschema against the operation's response schema from ``/api/v1/schema/``.
"""

import jsonschema
import pytest

from catalog import services as catalog_services
from profiling import jobs, privacy_budget
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

PROFILE = "/api/v1/datasets/{dataset_pk}/versions/{number}/profile/"
WARNINGS = "/api/v1/datasets/{dataset_pk}/versions/{number}/profile/warnings/"
SUITE = "/api/v1/datasets/{dataset_pk}/expectation-suite/"
SUITE_IMPORT = "/api/v1/datasets/{dataset_pk}/expectation-suite/import/"
HISTORY = "/api/v1/datasets/{dataset_pk}/quality-history/"


def _json_schema(node, *, strict: bool = True):
    """OpenAPI 3.0's schema dialect as JSON Schema: ``nullable`` becomes a null alternative, and
    (strict) an object with declared properties admits no other key."""
    if isinstance(node, list):
        return [_json_schema(n, strict=strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v, strict=strict) for k, v in node.items() if k not in ("nullable", "readOnly")}
    if "properties" in node:
        # Property names are not schemas: keep them as they are.
        out["properties"] = {k: _json_schema(v, strict=strict) for k, v in node["properties"].items()}
        if strict and "additionalProperties" not in node:
            out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture
def check(anon_client):
    served = anon_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = _json_schema(served["components"])

    def check(response, template: str, method: str = "get") -> dict:
        declared = served["paths"][template][method]["responses"][str(response.status_code)]
        schema = declared["content"]["application/json"]["schema"]
        body = response.json()
        jsonschema.validate(body, {**_json_schema(schema), "components": components})
        return body

    return check


@pytest.fixture
def protected(owner, steward, add_version):
    """A confidential dataset with a sensitive column and a label, profiled twice (bias, drift)."""
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="credit/confidential",
        stewards=[steward.username],
        sensitivity="confidential",
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label=1,
    )
    add_version(dataset, credit_csv(120))
    add_version(dataset, credit_csv(120, seed=3))
    return dataset


def test_profiles_match_the_schema_with_and_without_the_values(
    protected, dataset, add_version, owner, steward, outsider, api_client_for, check
):
    add_version(dataset, credit_csv(50))  # internal, with e-mail addresses: a governance warning
    # The outsider's answer on the protected dataset is a differentially private release.
    bounds = [{"column": "age", "lower": 18, "upper": 80}, {"column": "region", "categories": ["north"]}]
    privacy_budget.set_bounds(actor=owner, dataset=protected, columns=bounds)
    for version in protected.versions.all():
        privacy_budget.set_budget(actor=owner, version=version, epsilon_total=2)
    for who in (steward, outsider):
        client = api_client_for(who)
        suite = check(client.get(SUITE.format(dataset_pk=protected.pk)), SUITE)
        assert suite["expectations"] and (suite["values_hidden"] is None) == (who == steward)
        for ds, number in ((protected, 1), (protected, 2), (dataset, 1)):
            kwargs = {"dataset_pk": ds.pk, "number": number}
            body = check(client.get(PROFILE.format(**kwargs)), PROFILE)
            private = who == outsider and ds == protected
            assert body["status"] == "succeeded" and (body["bias"] is not None) == (
                ds == protected and not private
            )
            assert (body.get("release") == "dp") == private and (not private or body["columns"])
            check(client.get(WARNINGS.format(**kwargs)), WARNINGS)
        hidden = check(client.get(PROFILE.format(dataset_pk=protected.pk, number=2)), PROFILE)
        assert (hidden["values_hidden"] is None) == (who == steward)
        if who == steward:
            assert hidden["drift"]["columns"] and hidden["bias"]["attributes"]["gender"]
        assert check(client.get(WARNINGS.format(dataset_pk=dataset.pk, number=1)), WARNINGS)
        check(client.get(HISTORY.format(dataset_pk=protected.pk)), HISTORY)


def test_pending_and_failed_profiles_and_suite_writes_match_the_schema(
    protected,
    add_version,
    data_root,
    owner,
    outsider,
    api_client_for,
    check,
    django_capture_on_commit_callbacks,
):
    editor = api_client_for(owner)
    kwargs = {"dataset_pk": protected.pk, "number": 2}
    pending = check(editor.post(PROFILE.format(**kwargs)), PROFILE, "post")
    assert pending["status"] == "pending" and pending["values_hidden"] is None
    for client in (editor, api_client_for(outsider)):
        assert check(client.get(PROFILE.format(**kwargs)), PROFILE)["status"] == "pending"

    # A registered path whose bytes changed: the job fails, with a message.
    version = add_version(protected, credit_csv(30, seed=5))
    (data_root / version.original_name).write_text("id\n1\n")
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_rerun(actor=owner, version=version)
    kwargs = {"dataset_pk": protected.pk, "number": version.number}
    for client in (editor, api_client_for(outsider)):
        failed = check(client.get(PROFILE.format(**kwargs)), PROFILE)
        assert failed["status"] == "failed" and failed["error"]

    suite = editor.get(SUITE.format(dataset_pk=protected.pk)).json()
    body = {"expectations": suite["expectations"][:2], "version": suite["version"]}
    written = check(editor.put(SUITE.format(dataset_pk=protected.pk), body, format="json"), SUITE, "put")
    assert written["values_hidden"] is None
    export = {"name": "imported", "expectations": suite["expectations"][:1], "meta": {}}
    r = editor.post(SUITE_IMPORT.format(dataset_pk=protected.pk), export, format="json")
    check(r, SUITE_IMPORT, "post")
