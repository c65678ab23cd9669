"""The permission matrix of every /api/v1/ endpoint: one Row per route and method (and per case of it).

How to read and extend it: tests/permissions/matrix.py (module docstring). The expectations follow
the API contract (API.md "Identity and authentication": no credentials 401, signed in but not
allowed 403) and the rules in docs/governance.md and docs/lineage.md: catalog metadata (datasets,
versions, columns, profiles, lineage, models, policies) is read by every signed-in user; the
owner, a steward or staff change a dataset and what hangs off it; only the owner or staff delete it,
hand it on (the owner's hand-over is an offer the named user accepts) or loosen it; a deleted
dataset's name is its last owner's and stewards' (anyone else: 409); access requests are seen by their requester and the people who may decide
them, and decided by an owner or steward of every dataset, never by staff nor by the requester.
"""

from tests.permissions.matrix import (
    EDITORS,
    NO_ENDPOINT,
    NOT_ALLOWED,
    OK,
    OWNER_OR_STAFF,
    PUBLIC,
    SIGNED_IN,
    STAFF_ONLY,
    Expect,
    Row,
    World,
    lineage_event,
)


def dataset(w: World) -> dict:
    return {"dataset_pk": w.dataset["id"]}


def version(w: World) -> dict:
    return {"dataset_pk": w.dataset["id"], "number": w.version["number"]}


def dataset_pk(w: World) -> dict:
    return {"pk": w.dataset["id"]}


def column(w: World) -> dict:
    return {"dataset_pk": w.dataset["id"], "name": w.column}


def pending_request(w: World) -> dict:
    return {"pk": w.access_request["id"]}


def approved_request(w: World) -> dict:
    return {"pk": w.approved_request["id"]}


def model(w: World) -> dict:
    return {"pk": w.model["id"]}


def model_urn(w: World) -> str:
    """The model's URN with its version (model:<namespace>:<name>@<version>)."""
    return f"model:{w.model['namespace']}:{w.model['name']}@{w.model['version']}"


def alert(w: World) -> dict:
    return {"pk": w.alert["id"]}


def node(w: World) -> dict:
    return {"nodeId": w.urn, "depth": 5}


def source(w: World) -> dict:
    return {"pk": w.source["id"]}


def scan(w: World) -> dict:
    return {"pk": w.source["id"], "scan_id": w.scan["id"]}


def gx_suite(w: World) -> dict:
    return {
        "name": "credit",
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
        "meta": {},
    }


# A request's deciders are the owner or a steward of every dataset in it; staff do not decide, and
# nobody decides their own. Outsiders do not see the request (404), but are told 403 on an action.
REQUEST_VIEWERS = Expect(anonymous=401, outsider=404, owner=OK, steward=OK, staff=OK, requester=OK)
DECIDERS = Expect(anonymous=401, outsider=403, owner=OK, steward=OK, staff=403, requester=403)
REVOKERS = Expect(anonymous=401, outsider=403, owner=OK, steward=OK, staff=OK, requester=OK)
REQUESTER_ONLY = Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=403, requester=OK)
# Anyone signed in may ask for access (and list requests: their own and those they may decide).
ANY_REQUESTER = Expect(anonymous=401, outsider=OK, owner=OK, steward=OK, staff=OK, requester=OK)
SIGNED_IN_ROLES = frozenset({"outsider", "owner", "steward", "staff"})
# Who finds an access request, or an audit record about one, in a list.
SEE_REQUESTS = frozenset({"owner", "steward", "staff", "requester"})
# The model's owner (who registered it) or staff; the dataset's steward is no one to the model.
MODEL_OWNER = OWNER_OR_STAFF
# An event subscription the owner made: nobody else sees it.
SUBSCRIBER = Expect(anonymous=401, outsider=404, owner=OK, steward=404, staff=404)


def hidden_namespace(w: World) -> dict:
    return {"pk": w.hidden_namespace["id"]}


# Erasures of a data subject's value: staff or a privacy officer (governance.add_erasure) only.
PRIVACY_OFFICERS = Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK)


def subscription(w: World) -> dict:
    return {"pk": w.subscription["id"]}


ROWS: list[Row] = [
    # -- the API's own pages, and paths nothing serves --------------------------------------------------
    Row("GET", "/api/v1/schema/", PUBLIC),
    Row("GET", "/api/v1/docs/", PUBLIC),
    *(
        Row(m, "/api/v1/{anything}", NO_ENDPOINT, kwargs=lambda w: {"anything": "no-such-endpoint/"})
        for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
    ),
    # -- catalog: datasets ------------------------------------------------------------------------------
    Row(
        "GET",
        "/api/v1/datasets/",
        SIGNED_IN,
        query=lambda w: {"q": "credit"},
        finds=lambda w: {"id": w.dataset["id"]},
        seen_by=SIGNED_IN_ROLES,
    ),
    Row(
        "POST",
        "/api/v1/datasets/",
        SIGNED_IN,
        body=lambda w: {"namespace": "s3://matrix", "name": "new/table", "sensitivity": "internal"},
    ),
    Row(
        "POST",
        "/api/v1/datasets/",
        SIGNED_IN,  # naming yourself, or staff naming anyone: at once; anyone else: an offer
        variant="name another user as owner",
        body=lambda w: {"namespace": "s3://matrix", "name": "for/rita", "owner": w.username("requester")},
    ),
    # A deleted dataset's name is its last owner's and steward's: anyone else is refused (409).
    Row(
        "POST",
        "/api/v1/datasets/",
        Expect(anonymous=401, outsider=409, owner=OK, steward=OK, staff=OK),
        variant="bring a deleted dataset back as it was",
        body=lambda w: {"namespace": w.retired["namespace"], "name": w.retired["name"]},
    ),
    Row(
        "POST",
        "/api/v1/datasets/",
        Expect(anonymous=401, outsider=409, owner=OK, steward=403, staff=OK),  # owner: the last owner
        variant="bring a deleted restricted dataset back as public",
        body=lambda w: {
            "namespace": w.retired["namespace"],
            "name": w.retired["name"],
            "sensitivity": "public",
        },
    ),
    Row("GET", "/api/v1/datasets/{pk}/", SIGNED_IN, kwargs=dataset_pk),
    Row("PUT", "/api/v1/datasets/{pk}/", EDITORS, kwargs=dataset_pk, body=lambda w: {"title": "Edited"}),
    Row("PATCH", "/api/v1/datasets/{pk}/", EDITORS, kwargs=dataset_pk, body=lambda w: {"title": "Edited"}),
    Row(
        "PATCH",
        "/api/v1/datasets/{pk}/",
        OWNER_OR_STAFF,
        variant="lower its sensitivity",
        kwargs=dataset_pk,
        body=lambda w: {"sensitivity": "internal"},
    ),
    Row(
        "PATCH",
        "/api/v1/datasets/{pk}/",
        OWNER_OR_STAFF,  # the owner's is an offer the named user accepts; staff's applies at once
        variant="hand it to another owner",
        kwargs=dataset_pk,
        body=lambda w: {"owner": w.username("staff")},
    ),
    Row(
        "POST",
        "/api/v1/datasets/{pk}/ownership/accept/",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=403, requester=OK),
        kwargs=dataset_pk,
        needs=("offer",),
    ),
    Row(
        "POST",
        "/api/v1/datasets/{pk}/ownership/decline/",
        Expect(anonymous=401, outsider=403, owner=OK, steward=403, staff=OK, requester=OK),
        kwargs=dataset_pk,
        needs=("offer",),
    ),
    Row("DELETE", "/api/v1/datasets/{pk}/", OWNER_OR_STAFF, kwargs=dataset_pk, needs=("version",)),
    # -- catalog: versions and columns ------------------------------------------------------------------
    Row("GET", "/api/v1/datasets/{dataset_pk}/versions/", SIGNED_IN, kwargs=dataset),
    Row(
        "POST",
        "/api/v1/datasets/{dataset_pk}/versions/",
        EDITORS,
        variant="upload",
        kwargs=dataset,
        body=lambda w: {"file": w.csv_file()},
        format="multipart",
    ),
    Row(
        "POST",
        "/api/v1/datasets/{dataset_pk}/versions/",
        EDITORS,
        variant="a file inside DATA_ROOTS",
        kwargs=dataset,
        body=lambda w: {"uri": w.file_in_data_root()},
    ),
    Row("GET", "/api/v1/datasets/{dataset_pk}/versions/{number}/", SIGNED_IN, kwargs=version),
    Row("DELETE", "/api/v1/datasets/{dataset_pk}/versions/{number}/", OWNER_OR_STAFF, kwargs=version),
    Row("GET", "/api/v1/datasets/{dataset_pk}/columns/", SIGNED_IN, kwargs=dataset, needs=("version",)),
    Row("GET", "/api/v1/datasets/{dataset_pk}/columns/{name}/", SIGNED_IN, kwargs=column),
    *(
        Row(
            m,
            "/api/v1/datasets/{dataset_pk}/columns/{name}/",
            EDITORS,
            kwargs=column,
            body=lambda w: {"description": "Applicant id."},
        )
        for m in ("PUT", "PATCH")
    ),
    # -- profiling --------------------------------------------------------------------------------------
    Row("GET", "/api/v1/datasets/{dataset_pk}/versions/{number}/profile/", SIGNED_IN, kwargs=version),
    Row("POST", "/api/v1/datasets/{dataset_pk}/versions/{number}/profile/", EDITORS, kwargs=version),
    Row(
        "GET", "/api/v1/datasets/{dataset_pk}/versions/{number}/profile/warnings/", SIGNED_IN, kwargs=version
    ),
    Row("GET", "/api/v1/datasets/{dataset_pk}/expectation-suite/", SIGNED_IN, kwargs=dataset),
    Row(
        "PUT",
        "/api/v1/datasets/{dataset_pk}/expectation-suite/",
        EDITORS,
        kwargs=dataset,
        body=lambda w: {"expectations": gx_suite(w)["expectations"]},
    ),
    Row(
        "POST",
        "/api/v1/datasets/{dataset_pk}/expectation-suite/import/",
        EDITORS,
        kwargs=dataset,
        body=gx_suite,
    ),
    Row(
        "GET", "/api/v1/datasets/{dataset_pk}/quality-history/", SIGNED_IN, kwargs=dataset, needs=("version",)
    ),
    # -- privacy: steward bounds and budgets for differentially private releases (docs/privacy.md) ---
    Row("GET", "/api/v1/datasets/{dataset_pk}/privacy/bounds/", SIGNED_IN, kwargs=dataset),
    Row(
        "PUT",
        "/api/v1/datasets/{dataset_pk}/privacy/bounds/",
        EDITORS,
        kwargs=dataset,
        body=lambda w: {"columns": [{"column": "age", "lower": 0, "upper": 120, "bins": 12}]},
    ),
    Row("GET", "/api/v1/datasets/{dataset_pk}/versions/{number}/privacy/budget/", SIGNED_IN, kwargs=version),
    Row(
        "PUT",
        "/api/v1/datasets/{dataset_pk}/versions/{number}/privacy/budget/",
        EDITORS,
        kwargs=version,
        body=lambda w: {"epsilon_total": 3.0, "epsilon_per_release": 1.0},
    ),
    Row("GET", "/api/v1/datasets/{dataset_pk}/versions/{number}/privacy/ledger/", EDITORS, kwargs=version),
    # -- monitors and alerts ----------------------------------------------------------------------------
    Row("GET", "/api/v1/datasets/{dataset_pk}/monitor", SIGNED_IN, kwargs=dataset, needs=("monitor",)),
    Row(
        "PUT",
        "/api/v1/datasets/{dataset_pk}/monitor",
        EDITORS,
        kwargs=dataset,
        body=lambda w: {
            "schedule": "0 3 * * *",
            "rules": [{"metric": "psi", "column": w.column, "op": ">", "threshold": 0.2}],
        },
    ),
    Row(
        "GET",
        "/api/v1/alerts",
        SIGNED_IN,
        query=lambda w: {"dataset": w.urn},
        finds=lambda w: {"id": w.alert["id"]},
        seen_by=SIGNED_IN_ROLES,
    ),
    Row("GET", "/api/v1/alerts/{pk}", SIGNED_IN, kwargs=alert),
    Row(
        "POST", "/api/v1/alerts/{pk}/acknowledge", EDITORS, kwargs=alert, body=lambda w: {"comment": "on it"}
    ),
    Row("POST", "/api/v1/alerts/{pk}/resolve", EDITORS, kwargs=alert, body=lambda w: {"comment": "fixed"}),
    # -- lineage ----------------------------------------------------------------------------------------
    Row("GET", "/api/v1/lineage", SIGNED_IN, query=node, needs=("lineage",)),
    Row(
        "POST",
        "/api/v1/lineage",
        SIGNED_IN,
        body=lambda w: lineage_event(
            "s3://matrix", "raw/events", "01890000-0000-7000-8000-00000000b002", job="matrix.ingest"
        ),
    ),
    Row(
        "GET",
        "/api/v1/column-lineage",
        SIGNED_IN,
        query=lambda w: {"nodeId": f"datasetField:{w.lineage['output'][len('dataset:') :]}:id"},
    ),
    Row("GET", "/api/v1/lineage/impact", SIGNED_IN, query=node, needs=("lineage",)),
    Row("GET", "/api/v1/lineage/path", SIGNED_IN, query=lambda w: {"from": w.urn, "to": w.lineage["output"]}),
    Row("GET", "/api/v1/lineage/events", SIGNED_IN, query=lambda w: {"runId": w.lineage["run_id"]}),
    Row("GET", "/api/v1/lineage/backlog", SIGNED_IN),
    Row("GET", "/api/v1/lineage/runs/{run_id}", SIGNED_IN, kwargs=lambda w: {"run_id": w.lineage["run_id"]}),
    Row(
        "GET",
        "/api/v1/lineage/datasets/{ref}/runs",
        SIGNED_IN,
        variant="by id",
        kwargs=lambda w: {"ref": w.dataset["id"]},
        needs=("lineage",),
    ),
    Row(
        "GET",
        "/api/v1/lineage/datasets/{ref}/runs",
        SIGNED_IN,
        variant="by URN",
        kwargs=lambda w: {"ref": w.urn},
        needs=("lineage",),
    ),
    # -- governance: clearance and policies -------------------------------------------------------------
    Row("GET", "/api/v1/clearance", SIGNED_IN, query=lambda w: {"datasets": w.urn, "purpose": "training"}),
    Row(
        "GET",
        "/api/v1/clearance",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK),
        variant="for another principal",
        query=lambda w: {"datasets": w.urn, "purpose": "training", "principal": w.username("requester")},
    ),
    Row(
        "GET",
        "/api/v1/clearance",
        SIGNED_IN,
        variant="deployment of a model",
        query=lambda w: {"models": model_urn(w), "purpose": "deployment"},
    ),
    Row(
        "GET",
        "/api/v1/clearance",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK),
        variant="deployment, for another principal",
        query=lambda w: {
            "models": model_urn(w),
            "purpose": "deployment",
            "principal": w.username("requester"),
        },
    ),
    Row("GET", "/api/v1/datasets/{dataset_pk}/policy/", SIGNED_IN, kwargs=dataset),
    *(
        Row(
            m,
            "/api/v1/datasets/{dataset_pk}/policy/",
            EDITORS,
            variant="tighten",
            kwargs=dataset,
            body=lambda w: {"require_quality_pass": True},
        )
        for m in ("PUT", "PATCH")
    ),
    *(
        Row(
            m,
            "/api/v1/datasets/{dataset_pk}/policy/",
            OWNER_OR_STAFF,
            variant="loosen",
            kwargs=dataset,
            needs=("tight_policy",),
            body=lambda w: {"require_quality_pass": False},
        )
        for m in ("PUT", "PATCH")
    ),
    # -- governance: access requests --------------------------------------------------------------------
    Row(
        "GET",
        "/api/v1/access-requests",
        ANY_REQUESTER,
        query=lambda w: {"dataset": w.urn},
        finds=lambda w: {"id": w.access_request["id"]},
        seen_by=SEE_REQUESTS,
    ),
    Row(
        "POST",
        "/api/v1/access-requests",
        ANY_REQUESTER,
        body=lambda w: {"datasets": [w.urn], "purpose": "analysis", "justification": "Quarterly report."},
    ),
    Row("GET", "/api/v1/access-requests/{pk}", REQUEST_VIEWERS, kwargs=pending_request),
    Row(
        "POST",
        "/api/v1/access-requests/{pk}/approve",
        DECIDERS,
        kwargs=pending_request,
        body=lambda w: {"comment": "ok"},
    ),
    Row(
        "POST",
        "/api/v1/access-requests/{pk}/reject",
        DECIDERS,
        kwargs=pending_request,
        body=lambda w: {"comment": "no"},
    ),
    Row("POST", "/api/v1/access-requests/{pk}/revoke", REVOKERS, kwargs=approved_request, body=lambda w: {}),
    Row(
        "POST",
        "/api/v1/access-requests/{pk}/withdraw",
        REQUESTER_ONLY,
        kwargs=pending_request,
        body=lambda w: {},
    ),
    # -- governance: audit (append-only) ----------------------------------------------------------------
    Row(
        "GET",
        "/api/v1/audit",
        ANY_REQUESTER,
        variant="about a dataset an access request names",
        query=lambda w: {"object": w.urn},
        needs=("access_request",),
        finds=lambda w: {"object_type": "access_request"},
        seen_by=SEE_REQUESTS,
    ),
    Row(
        "GET",
        "/api/v1/audit",
        ANY_REQUESTER,
        variant="about an access request",
        query=lambda w: {"object": f"access_request:{w.access_request['id']}"},
        finds=lambda w: {"object_type": "access_request"},
        seen_by=SEE_REQUESTS,
    ),
    Row(
        "GET",
        "/api/v1/audit/{pk}",
        SIGNED_IN,
        variant="a record about a dataset",
        kwargs=lambda w: {"pk": w.audit_record(w.urn)},
    ),
    Row(
        "GET",
        "/api/v1/audit/{pk}",
        REQUEST_VIEWERS,
        variant="a record about an access request",
        kwargs=lambda w: {"pk": w.audit_record(f"access_request:{w.access_request['id']}")},
    ),
    Row("POST", "/api/v1/audit", NOT_ALLOWED, body=lambda w: {"action": "forged"}),
    *(
        Row(
            m,
            "/api/v1/audit/{pk}",
            NOT_ALLOWED,
            kwargs=lambda w: {"pk": w.audit_record(w.urn)},
            body=lambda w: {},
        )
        for m in ("PUT", "PATCH", "DELETE")
    ),
    # -- governance: models and their cards -------------------------------------------------------------
    Row(
        "GET",
        "/api/v1/models",
        SIGNED_IN,
        query=lambda w: {"name": "credit-scorer"},
        finds=lambda w: {"id": w.model["id"]},
        seen_by=SIGNED_IN_ROLES,
    ),
    Row(
        "POST",
        "/api/v1/models",
        SIGNED_IN,
        variant="a new model",
        body=lambda w: {
            "namespace": "mlflow://matrix",
            "name": "churn",
            "version": "1",
            "trained_on": [f"{w.urn}@{w.version['number']}"],
        },
    ),
    Row(
        "POST",
        "/api/v1/models",
        MODEL_OWNER,
        variant="a new version of the owner's model",
        body=lambda w: {
            "namespace": w.model["namespace"],
            "name": w.model["name"],
            "version": "2",
            "trained_on": [w.urn],
        },
    ),
    Row(
        "POST",
        "/api/v1/models",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK),
        variant="for another principal",
        body=lambda w: {
            "namespace": "mlflow://matrix",
            "name": "churn",
            "version": "1",
            "trained_on": [w.urn],
            "principal": w.username("requester"),
        },
    ),
    Row("GET", "/api/v1/models/{pk}", SIGNED_IN, kwargs=model),
    Row(
        "PATCH", "/api/v1/models/{pk}", MODEL_OWNER, kwargs=model, body=lambda w: {"intended_use": "Scoring."}
    ),
    Row("PUT", "/api/v1/models/{pk}", NOT_ALLOWED, kwargs=model, body=lambda w: {"intended_use": "Scoring."}),
    Row("GET", "/api/v1/models/{pk}/card", SIGNED_IN, kwargs=model),
    # A model's release policy: read by everyone signed in, set by the model's owner or staff.
    Row("GET", "/api/v1/models/{pk}/policy", SIGNED_IN, kwargs=model),
    *(
        Row(
            m,
            "/api/v1/models/{pk}/policy",
            MODEL_OWNER,
            kwargs=model,
            body=lambda w: {"max_equalized_odds_difference": 0.1, "min_accuracy": 0.8},
        )
        for m in ("PUT", "PATCH")
    ),
    Row("GET", "/api/v1/models/{pk}/release-check", SIGNED_IN, kwargs=model),
    Row(
        "GET",
        "/api/v1/models/{pk}/release-check",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK),
        variant="for another principal",
        kwargs=model,
        query=lambda w: {"principal": w.username("requester")},
    ),
    Row("GET", "/api/v1/models/{pk}/card.md", SIGNED_IN, kwargs=model),
    Row("GET", "/api/v1/models/{pk}/card.html", SIGNED_IN, kwargs=model),
    Row(
        "GET",
        "/api/v1/models/{pk}/card",
        SIGNED_IN,
        kwargs=model,
        query=lambda w: {"format": "mct"},
        variant="mct",
    ),
    # Evaluations: asked for by whoever may edit the model (its owner or staff) on data whose values
    # they may read; read by every signed-in user (group names only by those who may read the data).
    Row(
        "POST",
        "/api/v1/models/{pk}/evaluations",
        MODEL_OWNER,
        kwargs=model,
        body=lambda w: {
            "dataset": f"{w.urn}@{w.version['number']}",
            "label_column": "approved",
            "prediction_column": "approved",
        },
    ),
    Row("GET", "/api/v1/models/{pk}/evaluations", SIGNED_IN, kwargs=model),
    Row(
        "GET",
        "/api/v1/models/{pk}/evaluations/{eid}",
        SIGNED_IN,
        kwargs=lambda w: {"pk": w.model["id"], "eid": w.evaluation["id"]},
    ),
    # -- sources (API.md "Sources"): listed by every signed-in user; added by staff (or who holds
    # catalog.add_source); changed, tested and scanned by the source's owner, stewards or staff;
    # deleted by its owner or staff.
    Row("GET", "/api/v1/sources", SIGNED_IN, needs=("source",)),
    Row(
        "POST",
        "/api/v1/sources",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK),
        body=lambda w: {"name": "another", "kind": "folder", "uri": w.data_root.as_uri()},
    ),
    Row("GET", "/api/v1/sources/{pk}", SIGNED_IN, kwargs=source),
    Row("PATCH", "/api/v1/sources/{pk}", EDITORS, kwargs=source, body=lambda w: {"schedule": "0 3 * * *"}),
    Row("DELETE", "/api/v1/sources/{pk}", OWNER_OR_STAFF, kwargs=source),
    Row("POST", "/api/v1/sources/{pk}/test", EDITORS, kwargs=source),
    Row("GET", "/api/v1/sources/{pk}/scans", SIGNED_IN, kwargs=source),
    Row(
        "POST",
        "/api/v1/sources/{pk}/scans",
        EDITORS,
        kwargs=source,
    ),
    Row("GET", "/api/v1/sources/{pk}/scans/{scan_id}", SIGNED_IN, kwargs=scan),
    # -- hidden namespaces (docs/governance.md "Hidden datasets"): staff only, the list included, since
    # it names what the company must not see listed.
    Row("GET", "/api/v1/hidden-namespaces/", STAFF_ONLY, needs=("hidden_namespace",)),
    Row(
        "POST", "/api/v1/hidden-namespaces/", STAFF_ONLY, body=lambda w: {"namespace": "s3://another-hidden"}
    ),
    Row("GET", "/api/v1/hidden-namespaces/{pk}/", STAFF_ONLY, kwargs=hidden_namespace),
    Row("DELETE", "/api/v1/hidden-namespaces/{pk}/", STAFF_ONLY, kwargs=hidden_namespace),
    # -- MLflow interop (API.md "Models: evaluation, release, MLflow"): staff only. The matrix's world
    # sets no MLFLOW_TRACKING_URI, so staff are told the sync is unavailable (409), and a job that
    # does not exist is a 404 (governance/tests/test_mlflow_api.py runs real ones).
    Row(
        "POST",
        "/api/v1/integrations/mlflow/sync",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=409),
    ),
    Row(
        "GET",
        "/api/v1/integrations/mlflow/sync/{pk}",
        Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=404),
        kwargs=lambda w: {"pk": 987654},
    ),
    # -- governance: event subscriptions and their delivery log -------------------------------------------
    # A subscription is its owner's (or its group's members'): anyone else, staff included, gets 404
    # (a webhook URL may hold a token). A group is one the caller belongs to (403 otherwise); a
    # dataset that does not exist (or that the caller may not see) is a 404.
    Row(
        "GET",
        "/api/v1/subscriptions",
        SIGNED_IN,
        finds=lambda w: {"id": w.subscription["id"]},
        seen_by=frozenset({"owner"}),
    ),
    Row(
        "POST",
        "/api/v1/subscriptions",
        SIGNED_IN,
        body=lambda w: {"events": ["version.stored", "access_request.*"], "dataset": w.urn, "email": True},
    ),
    Row(
        "POST",
        "/api/v1/subscriptions",
        Expect(anonymous=401, outsider=403, owner=OK, steward=403, staff=403),
        variant="for the owner's group",
        body=lambda w: {"events": ["*"], "group": w.team, "email": True},
    ),
    Row(
        "POST",
        "/api/v1/subscriptions",
        Expect(anonymous=401, outsider=404, owner=404, steward=404, staff=404),
        variant="to a dataset that does not exist",
        body=lambda w: {"events": ["*"], "dataset": "dataset:s3://matrix:no/such/table", "email": True},
    ),
    Row("GET", "/api/v1/subscriptions/{pk}", SUBSCRIBER, kwargs=subscription),
    Row(
        "PATCH",
        "/api/v1/subscriptions/{pk}",
        SUBSCRIBER,
        kwargs=subscription,
        body=lambda w: {"active": False},
    ),
    Row("DELETE", "/api/v1/subscriptions/{pk}", SUBSCRIBER, kwargs=subscription),
    # -- privacy: erasures ------------------------------------------------------------------------------
    Row("GET", "/api/v1/privacy/erasures", PRIVACY_OFFICERS),
    Row(
        "POST",
        "/api/v1/privacy/erasures",
        PRIVACY_OFFICERS,  # the dataset's title quotes the value: found, so staff get 201
        needs=("dataset",),
        body=lambda w: {"value": "Credit applications"},
    ),
    Row("GET", "/api/v1/subscriptions/{pk}/deliveries", SUBSCRIBER, kwargs=subscription),
    Row(
        "POST",
        "/api/v1/subscriptions/{pk}/deliveries/{delivery_pk}/redeliver",
        SUBSCRIBER,
        kwargs=lambda w: {"pk": w.subscription["id"], "delivery_pk": w.delivery},
    ),
]
