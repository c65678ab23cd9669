"""The API permission matrix: who gets what from every endpoint, declared once per endpoint and method.

Every ``(route, method)`` under ``/api/v1/`` has at least one :class:`Row` in
``tests/permissions/endpoints.py``. A row says which status each of five roles gets:

* ``anonymous`` -- no credentials;
* ``outsider`` -- signed in, no relation to the object;
* ``owner`` -- owns the dataset (and the model) the row acts on;
* ``steward`` -- a named steward of that dataset;
* ``staff`` -- ``is_staff``;

and, for objects that have one, ``requester`` (who made the access request). ``test_matrix.py`` calls
the endpoint once per (row, role), each test in its own rolled-back transaction with a fresh
:class:`World`, and asserts the declared status. When a write (POST, PUT, PATCH, DELETE) is refused, it also asserts that
nothing changed: every table holds the same rows, no file was stored, nothing was queued for commit.

How to add an endpoint to the permission matrix
-----------------------------------------------
Add a route and ``test_every_route_and_method_has_a_row`` fails, naming each ``METHOD /path`` that
has no row, spelt as rows spell paths: the URL pattern with every converter or named group written
``{kwarg}`` and ``^``, ``$`` and an optional ``/?`` dropped (``/api/v1/datasets/{dataset_pk}/versions/``,
``/api/v1/access-requests/{pk}/approve``). For each, add a ``Row`` to ``ROWS`` in ``endpoints.py``;
for instance, for a hypothetical monitor that the dataset's editors set:

    Row("PUT", "/api/v1/datasets/{dataset_pk}/monitor", EDITORS,
        kwargs=lambda w: {"dataset_pk": w.dataset["id"]},
        body=lambda w: {"rules": [{"metric": "psi", "op": ">", "threshold": 0.2}]}),

``kwargs`` fills the placeholders, ``query`` adds a query string, ``body`` is sent as JSON (or as
multipart with ``format="multipart"``). Each takes the :class:`World`, whose properties build what
the row needs on first use, through the REST API as the people who make it would (``w.dataset``,
``w.version``, ``w.column``, ``w.lineage``, ``w.access_request``, ``w.approved_request``,
``w.model``, ``w.audit_record(ref)``...); ``needs`` names properties to build that the call itself
does not mention (a list that should hold the model). A new kind of object is a new
``cached_property`` on ``World``, made with ``World.call`` (the API), or with the model's manager
only where no endpoint makes it: never with an app's services or selectors, which move.

Take the expectation from the shorthands below (``SIGNED_IN``, ``EDITORS``, ``OWNER_OR_STAFF``...)
or spell it out with ``Expect(...)``: ``OK`` is any 2xx, a number is that status, a tuple accepts any
of its codes (``(403, 404)``); ``requester=`` adds that sixth role where the object has one. When
one route and method answers differently by body or object (lowering a sensitivity; an audit record
about an access request), add a row per case, each with a ``variant`` saying which. For a list
scoped by who asks, ``finds`` gives the fields of the item to look for and ``seen_by`` the roles
that must find it (the others must not). A method a route does not serve may have a row expecting
405. Where the API answers a role otherwise than the contract says (a defect), declare what the
contract says and name the role in ``defects`` with the reason: that case is a strict xfail, which
fails the day the defect is fixed, so that its entry goes with the fix.

Run it: ``python -m pytest tests/permissions -q``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

API_PREFIX = "/api/v1/"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Methods every route answers by itself (Django and DRF): not part of the matrix.
IMPLICIT = frozenset({"HEAD", "OPTIONS", "TRACE"})

Status = str | int | tuple[int, ...]
OK: Status = "2xx"


@dataclass(frozen=True)
class Expect:
    """The status each role gets: ``OK`` (any 2xx), one code, or a tuple of acceptable codes."""

    anonymous: Status
    outsider: Status
    owner: Status
    steward: Status
    staff: Status
    requester: Status | None = None  # only where the object has one (access requests)

    def items(self) -> Iterator[tuple[str, Status]]:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value


PUBLIC = Expect(anonymous=OK, outsider=OK, owner=OK, steward=OK, staff=OK)
SIGNED_IN = Expect(anonymous=401, outsider=OK, owner=OK, steward=OK, staff=OK)
EDITORS = Expect(anonymous=401, outsider=403, owner=OK, steward=OK, staff=OK)  # can_change_dataset
OWNER_OR_STAFF = Expect(anonymous=401, outsider=403, owner=OK, steward=403, staff=OK)
STAFF_ONLY = Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=OK)
NO_ENDPOINT = Expect(anonymous=401, outsider=404, owner=404, steward=404, staff=404)
NOT_ALLOWED = Expect(anonymous=401, outsider=405, owner=405, steward=405, staff=405)


def _no_args(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    """One endpoint, one method (and one case of it, ``variant``): its path pattern, how to call it and
    what each role gets."""

    method: str
    path: str
    expect: Expect
    kwargs: Callable[[World], Mapping[str, Any]] = _no_args
    query: Callable[[World], Mapping[str, Any]] | None = None
    body: Callable[[World], Any] | None = None
    format: str = "json"
    variant: str = ""
    needs: tuple[str, ...] = ()  # World properties to build first, beyond what kwargs/query/body use
    # For lists: the fields of the item to look for in ``results``; the roles in seen_by must find
    # one such item, the others none (a list scoped by who asks).
    finds: Callable[[World], Mapping[str, Any]] | None = None
    seen_by: frozenset[str] = frozenset()
    defects: Mapping[str, str] = field(default_factory=dict)  # role -> why it is a defect (strict xfail)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")

    def url(self, world: World) -> str:
        values = self.kwargs(world)
        url = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), self.path)
        if self.query is not None:
            url += "?" + urlencode(self.query(world), doseq=True)
        return url


def cases(rows: list[Row]) -> list:
    """pytest parameters: one per (row, role), ``defects`` as strict xfails."""
    out = []
    for row in rows:
        for role, _ in row.expect.items():
            marks = []
            if role in row.defects:
                marks.append(pytest.mark.xfail(strict=True, reason=row.defects[role]))
            out.append(pytest.param(row, role, id=f"{row.id} as {role}", marks=marks))
    return out


# ----------------------------------------------------------------------------------------------------
# Routes, as the URL resolver has them


def canonical(route: str) -> str:
    """``api/v1/datasets/<int:dataset_pk>/^versions/(?P<number>\\d+)/$`` → the rows' spelling
    ``/api/v1/datasets/{dataset_pk}/versions/{number}/``."""
    s = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    s = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", s)
    s = s.replace("^", "").replace("$", "").replace("/?", "")
    s = s.replace(".*", "{anything}")
    return "/" + s


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def view_methods(callback) -> set[str]:
    """The methods a view serves: a ViewSet's routed actions that its ``http_method_names`` allow; an
    APIView's (or Django view's) handlers, without those every view answers (HEAD, OPTIONS, TRACE).
    A plain function view does not say: every write method and GET are assumed."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    actions = getattr(callback, "actions", None)
    if cls is None:
        return {"GET", *WRITES}
    allowed = {m.upper() for m in cls.http_method_names}
    if actions:
        return {m.upper() for m in actions} & allowed - IMPLICIT
    return {m.upper() for m in cls.http_method_names if hasattr(cls, m)} - IMPLICIT


def api_routes() -> dict[str, set[str]]:
    """Every route under /api/v1/ (rows' spelling) → the methods it serves."""
    routes: dict[str, set[str]] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        path = canonical(route)
        if path.startswith(API_PREFIX):
            routes.setdefault(path, set()).update(view_methods(pattern.callback))
    return routes


# ----------------------------------------------------------------------------------------------------
# The world a row acts on

CSV = b"id,age,gender,approved\n1,34,F,1\n2,51,M,0\n3,29,F,1\n4,45,M,1\n"


class World:
    """The objects the rows act on, built on first use, once per test, through the REST API as the
    people who make them would (so the matrix does not depend on where services live)."""

    def __init__(self, *, users: Mapping[str, Any], client_for, on_commit, data_root: Path):
        self.users = dict(users)
        self._client_for = client_for
        self._on_commit = on_commit  # pytest-django's django_capture_on_commit_callbacks
        self.data_root = data_root
        self._clients: dict[str, APIClient] = {}

    def client(self, role: str) -> APIClient:
        if role not in self._clients:
            self._clients[role] = APIClient() if role == "anonymous" else self._client_for(self.users[role])
        return self._clients[role]

    def username(self, role: str) -> str:
        return self.users[role].get_username()

    def call(self, role: str, method: str, path: str, body: Any = None, *, fmt: str = "json", commit=True):
        """A call that builds the world: it must succeed → the answer's JSON. With ``commit``, what
        the call queued for after its commit runs too (audit records, lineage, notifications)."""
        client = self.client(role)
        handler = getattr(client, method.lower())
        if commit:
            with self._on_commit(execute=True):
                response = handler(path, body, format=fmt)
        else:
            response = handler(path, body, format=fmt)
        assert 200 <= response.status_code < 300, (
            f"building the world: {method} {path} as {role} → {response.status_code} {response.content[:500]!r}"
        )
        return response.json() if response.content else None

    # -- catalog ---------------------------------------------------------------------------------------
    @cached_property
    def dataset(self) -> dict:
        """A confidential dataset of the owner's, with the steward named."""
        return self.call(
            "owner",
            "POST",
            "/api/v1/datasets/",
            {
                "namespace": "s3://matrix",
                "name": "credit/applications",
                "title": "Credit applications",
                "stewards": [self.username("steward")],
                "sensitivity": "confidential",
                "sensitive_columns": ["gender"],
                "label_column": "approved",
                "positive_label": "1",
            },
        )

    @cached_property
    def source(self) -> dict:
        """A folder source added by staff, owned by the owner with the steward named (one CSV in it)."""
        folder = self.data_root / "matrix-source"
        folder.mkdir(exist_ok=True)
        (folder / "applications.csv").write_bytes(CSV)
        return self.call(
            "staff",
            "POST",
            "/api/v1/sources/",
            {
                "name": "matrix folder",
                "kind": "folder",
                "uri": folder.as_uri(),
                "owner": self.username("owner"),
                "stewards": [self.username("steward")],
            },
        )

    @cached_property
    def scan(self) -> dict:
        """A scan of the source, asked for by the owner (it stays pending: nothing commits)."""
        return self.call("owner", "POST", f"/api/v1/sources/{self.source['id']}/scans", commit=False)

    @cached_property
    def retired(self) -> dict:
        """A restricted dataset of the owner's, with the steward named, deleted: only its last owner,
        its steward or staff may register its name again, and only as restricted unless its last
        owner or staff say otherwise."""
        gone = self.call(
            "owner",
            "POST",
            "/api/v1/datasets/",
            {
                "namespace": "s3://matrix",
                "name": "retired/table",
                "sensitivity": "restricted",
                "stewards": [self.username("steward")],
            },
        )
        self.call("owner", "DELETE", f"/api/v1/datasets/{gone['id']}/")
        return gone

    @cached_property
    def offer(self) -> dict:
        """The dataset, offered by its owner to the requester (who has not answered yet)."""
        return self.call(
            "owner", "PATCH", f"/api/v1/datasets/{self.dataset['id']}/", {"owner": self.username("requester")}
        )

    @property
    def urn(self) -> str:
        return self.dataset["urn"]

    @cached_property
    def hidden_namespace(self) -> dict:
        """Staff's rule hiding every dataset of a namespace (none of the world's are in it)."""
        return self.call("staff", "POST", "/api/v1/hidden-namespaces/", {"namespace": "s3://matrix-hidden"})

    @cached_property
    def version(self) -> dict:
        """Version 1 of the dataset, uploaded by the owner. Its profiling stays pending (nothing
        commits), which every profile endpoint answers."""
        return self.call(
            "owner",
            "POST",
            f"/api/v1/datasets/{self.dataset['id']}/versions/",
            {"file": self.csv_file()},
            fmt="multipart",
            commit=False,
        )

    @cached_property
    def column(self) -> str:
        """A column's name (columns come from the version's header)."""
        self.version  # noqa: B018 -- builds it
        return self.call("owner", "GET", f"/api/v1/datasets/{self.dataset['id']}/columns/")["results"][0][
            "name"
        ]

    def csv_file(self, name: str = "data.csv") -> SimpleUploadedFile:
        return SimpleUploadedFile(name, CSV, content_type="text/csv")

    def file_in_data_root(self, name: str = "registered.csv") -> str:
        path = self.data_root / name
        path.write_bytes(CSV.replace(b"4,45", b"5,62"))
        return path.as_uri()

    # -- monitors --------------------------------------------------------------------------------------
    @cached_property
    def monitor(self) -> dict:
        """The dataset's monitor, set by the steward: a PSI rule on a column, every night."""
        return self.call(
            "steward",
            "PUT",
            f"/api/v1/datasets/{self.dataset['id']}/monitor",
            {"schedule": "0 3 * * *", "rules": [{"metric": "psi", "column": self.column, "threshold": 0.2}]},
        )

    @cached_property
    def alert(self) -> dict:
        """An open alert of the monitor's rule. Alerts are opened by profiles, never by an endpoint:
        written with the model's manager (the version's profile stays pending here)."""
        from django.utils import timezone

        from profiling.models import Alert, MonitorRule

        rule = MonitorRule.objects.get(pk=self.monitor["rules"][0]["id"])
        made = Alert.objects.create(
            dataset_id=self.dataset["id"],
            rule=rule,
            rule_spec=rule.spec(),
            message="PSI of a column is 0.9 in version 1.",
            figures={"metric": "psi", "value": 0.9, "op": ">", "threshold": 0.2},
            history=[{"at": timezone.now().isoformat(), "status": "open", "by": None}],
            opened_at=timezone.now(),
        )
        return {"id": made.pk}

    # -- governance ------------------------------------------------------------------------------------
    @cached_property
    def tight_policy(self) -> dict:
        """The dataset's policy, tightened by its owner (so that a change can loosen it)."""
        return self.call(
            "owner",
            "PUT",
            f"/api/v1/datasets/{self.dataset['id']}/policy/",
            {"require_quality_pass": True, "max_approval_days": 30},
        )

    def _request_access(self) -> dict:
        return self.call(
            "requester",
            "POST",
            "/api/v1/access-requests/",
            {"datasets": [self.urn], "purpose": "training", "justification": "Credit model v3."},
        )

    @cached_property
    def access_request(self) -> dict:
        """A pending access request of the requester's for the dataset."""
        return self._request_access()

    @cached_property
    def approved_request(self) -> dict:
        """Another access request of the requester's, approved by the steward."""
        made = self._request_access()
        return self.call(
            "steward", "POST", f"/api/v1/access-requests/{made['id']}/approve", {"comment": "ok"}
        )

    @cached_property
    def model(self) -> dict:
        """A model version the owner registered, trained on version 1 of the dataset."""
        return self.call(
            "owner",
            "POST",
            "/api/v1/models/",
            {
                "namespace": "mlflow://matrix",
                "name": "credit-scorer",
                "version": "1",
                "trained_on": [f"{self.urn}@{self.version['number']}"],
            },
        )

    @cached_property
    def evaluation(self) -> dict:
        """An evaluation of the model on version 1, asked for by the owner (it stays queued: nothing
        commits)."""
        return self.call(
            "owner",
            "POST",
            f"/api/v1/models/{self.model['id']}/evaluations",
            {
                "dataset": f"{self.urn}@{self.version['number']}",
                "label_column": "approved",
                "prediction_column": "approved",
            },
            commit=False,
        )

    @cached_property
    def subscription(self) -> dict:
        """The owner's subscription to the access requests of the dataset, by e-mail."""
        return self.call(
            "owner",
            "POST",
            "/api/v1/subscriptions/",
            {"events": ["access_request.*"], "dataset": self.urn, "email": True},
        )

    @cached_property
    def team(self) -> str:
        """The name of a group the owner belongs to (no endpoint makes groups: the model's manager)."""
        from django.contrib.auth.models import Group

        group = Group.objects.create(name="matrix-team")
        self.users["owner"].groups.add(group)
        return group.name

    @cached_property
    def delivery(self) -> int:
        """The id of the subscription's delivery of an access request's "created" step (a request
        made after it, whose event the worker, eager here, delivered at commit)."""
        sid = self.subscription["id"]
        self._request_access()
        log = self.call("owner", "GET", f"/api/v1/subscriptions/{sid}/deliveries")
        assert log["results"], "building the world: the access request's event was not delivered"
        return log["results"][0]["id"]

    def audit_record(self, object_ref: str) -> int:
        """The id of the newest audit record about ``object_ref`` (read as staff)."""
        found = self.call("staff", "GET", "/api/v1/audit/?" + urlencode({"object": object_ref}))
        assert found["results"], f"building the world: no audit record about {object_ref}"
        return found["results"][0]["id"]

    # -- lineage ---------------------------------------------------------------------------------------
    @cached_property
    def lineage(self) -> dict:
        """The owner's pipeline read the dataset and wrote ``s3://matrix:features`` (its ``id`` column
        from the dataset's ``id``) → {"run_id", "output"}."""
        run_id = "01890000-0000-7000-8000-00000000a001"
        ds = self.dataset
        self.call("owner", "POST", "/api/v1/lineage", lineage_event(ds["namespace"], ds["name"], run_id))
        return {"run_id": run_id, "output": "dataset:s3://matrix:features"}

    # -- what a refused write must leave alone ---------------------------------------------------------
    def state(self) -> dict[str, list[str]]:
        """Every row of every table, and every stored file."""
        out: dict[str, list[str]] = {}
        with connection.cursor() as cur:
            for table in sorted(connection.introspection.table_names(cur)):
                cur.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 -- table names
                out[table] = sorted(repr(tuple(_plain(v) for v in r)) for r in cur.fetchall())
        for name in ("MEDIA_ROOT", "FILE_UPLOAD_TEMP_DIR"):
            root = Path(getattr(settings, name) or "/nonexistent")
            out[f"<files in {name}>"] = sorted(str(Path(d, f)) for d, _, fs in os.walk(root) for f in fs)
        return out

    def queued(self) -> AbstractContextManager[list]:
        return self._on_commit(execute=False)


def _plain(value: Any) -> Any:
    # PostgreSQL hands binary columns over as memoryview, whose repr is its address.
    return bytes(value) if isinstance(value, memoryview) else value


def lineage_event(namespace: str, name: str, run_id: str, *, job: str = "matrix.features") -> dict:
    """A COMPLETE OpenLineage RunEvent: ``job`` read the dataset and wrote ``s3://matrix:features``."""
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": producer,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "pipelines", "name": job},
        "inputs": [{"namespace": namespace, "name": name}],
        "outputs": [
            {
                "namespace": "s3://matrix",
                "name": "features",
                "facets": {
                    "columnLineage": {
                        "_producer": producer,
                        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                        "fields": {
                            "id": {"inputFields": [{"namespace": namespace, "name": name, "field": "id"}]}
                        },
                    }
                },
            }
        ],
    }


# ----------------------------------------------------------------------------------------------------
# One case


def matches(code: int, expected: Status) -> bool:
    if expected == OK:
        return 200 <= code < 300
    if isinstance(expected, tuple):
        return code in expected
    return code == expected


def _diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> str:
    lines = []
    for table in sorted(set(before) | set(after)):
        old, new = set(before.get(table, [])), set(after.get(table, []))
        if old != new:
            lines.append(f"  {table}: +{sorted(new - old)[:3]} -{sorted(old - new)[:3]}")
    return "\n".join(lines)


def check(row: Row, role: str, world: World) -> None:
    """Call the row's endpoint as ``role`` and assert the declared status; a refused write must
    leave every table and the stored files as they were, and queue nothing for after commit."""
    expected = dict(row.expect.items())[role]
    for name in row.needs:
        getattr(world, name)
    url = row.url(world)
    body = row.body(world) if row.body is not None else None
    wanted = dict(row.finds(world)) if row.finds is not None else None
    client = world.client(role)
    refused_write = row.method in WRITES and expected != OK
    before = world.state() if refused_write else None
    with world.queued() as queued:
        if row.method == "GET":
            response = client.get(url)
        else:
            response = getattr(client, row.method.lower())(url, body, format=row.format)
    assert matches(response.status_code, expected), (
        f"{row.id} as {role}: expected {expected}, got {response.status_code}: {response.content[:400]!r}"
    )
    if wanted is not None and 200 <= response.status_code < 300:
        found = any(wanted.items() <= item.items() for item in response.json()["results"])
        assert found == (role in row.seen_by), (
            f"{row.id} as {role}: {wanted} is {'listed' if found else 'missing'}: {response.content[:400]!r}"
        )
    if refused_write:
        after = world.state()
        assert after == before, f"{row.id} as {role} was refused but changed:\n{_diff(before, after)}"
        assert not queued, f"{row.id} as {role} was refused but queued {queued} for after commit"
