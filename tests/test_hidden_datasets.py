"""Hidden datasets (docs/governance.md, "Hidden datasets"): every surface, for every kind of viewer.

One hidden dataset with a version (its profile), lineage downstream of it, a model trained on it, an
approved and a pending access request, owned by a user and a group; then each surface is asked by the
owner, a steward, a member of the owner group, staff, the approved requester (who see it) and the
pending requester and an outsider (who must not learn that it exists). Runs on SQLite (FTS5) and,
with DATABASE_URL, on PostgreSQL (the narrow search table and its trigger-kept counts).
"""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from catalog.models import Dataset
from tests.permissions.matrix import lineage_event

pytestmark = pytest.mark.django_db

SEERS = ("owner", "steward", "member", "staff", "approved")
BLIND = ("outsider", "pending")
ROLES = SEERS + BLIND
NAME = "zephyr_ledger"
DOMAIN = "vaultdomain"
CSV = b"id,age,gender,approved\n1,34,F,1\n2,51,M,0\n3,29,F,1\n4,45,M,1\n"
FEATURES = "dataset:s3://matrix:features"


class Hidden:
    """The world: users by role, API and browser clients, the hidden dataset and what hangs off it."""

    def __init__(self, make_user, api_client_for, capture):
        self.capture = capture
        self.users = {
            "owner": make_user("olivia_owner"),
            "steward": make_user("sam_steward"),
            "member": make_user("mia_member"),
            "staff": make_user("stella_staff", is_staff=True),
            "approved": make_user("april_approved"),
            "pending": make_user("pete_pending"),
            "outsider": make_user("oscar_outsider"),
        }
        self.api = {role: api_client_for(u) for role, u in self.users.items()}
        self.public = self.call(
            "owner",
            "post",
            "/api/v1/datasets/",
            {"namespace": "s3://open", "name": "open_table", "domain": "sales"},
        )
        self.dataset = self.call(
            "owner",
            "post",
            "/api/v1/datasets/",
            {
                "namespace": "s3://vault",
                "name": NAME,
                "title": "Zephyr ledger",
                "domain": DOMAIN,
                "tags": ["zephyrtag"],
                "stewards": ["sam_steward"],
                "sensitivity": "confidential",
            },
        )
        self.pk, self.urn = self.dataset["id"], self.dataset["urn"]
        team = Group.objects.create(name="vault-team")
        self.users["member"].groups.add(team)
        Dataset.objects.filter(pk=self.pk).update(owner_group=team)
        from django.core.files.uploadedfile import SimpleUploadedFile

        self.version = self.call(
            "owner",
            "post",
            f"/api/v1/datasets/{self.pk}/versions/",
            {"file": SimpleUploadedFile("data.csv", CSV, content_type="text/csv")},
            fmt="multipart",
            commit=False,
        )
        run = "01890000-0000-7000-8000-00000000b001"
        self.call("owner", "post", "/api/v1/lineage", lineage_event("s3://vault", NAME, run))
        self.model = self.call(
            "owner",
            "post",
            "/api/v1/models/",
            {"namespace": "mlflow://m", "name": "scorer", "version": "1", "trained_on": [f"{self.urn}@1"]},
        )
        ask = {"datasets": [self.urn], "purpose": "training", "justification": "Model v1."}
        approved = self.call("approved", "post", "/api/v1/access-requests/", ask)
        self.call("steward", "post", f"/api/v1/access-requests/{approved['id']}/approve", {"comment": "ok"})
        self.pending_request = self.call("pending", "post", "/api/v1/access-requests/", ask)
        # Hidden last: everything above was made while it could be seen, as in life.
        self.call("owner", "patch", f"/api/v1/datasets/{self.pk}/", {"hidden": True})

    def call(self, role, method, path, body=None, *, fmt="json", commit=True):
        handler = getattr(self.api[role], method)
        if commit:
            with self.capture(execute=True):
                response = handler(path, body, format=fmt)
        else:
            response = handler(path, body, format=fmt)
        assert 200 <= response.status_code < 300, (path, response.status_code, response.content[:400])
        return response.json() if response.content else None

    def browser(self, role):
        from django.test import Client

        client = Client()
        client.force_login(self.users[role])
        return client


@pytest.fixture
def hidden(make_user, api_client_for, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Hidden(make_user, api_client_for, django_capture_on_commit_callbacks)


def _sees(role: str) -> bool:
    return role in SEERS


def test_the_dataset_is_hidden_and_says_so(hidden):
    assert hidden.call("owner", "get", f"/api/v1/datasets/{hidden.pk}/")["hidden"] is True
    assert hidden.dataset["hidden"] is False and hidden.public["hidden"] is False


@pytest.mark.parametrize("role", ROLES)
def test_api_detail_list_versions_and_profile(hidden, role):
    api = hidden.api[role]
    expected = 200 if _sees(role) else 404  # 404, not 403: a 403 would say that it exists
    assert api.get(f"/api/v1/datasets/{hidden.pk}/").status_code == expected
    assert api.get(f"/api/v1/datasets/{hidden.pk}/versions/").status_code == expected
    assert api.get(f"/api/v1/datasets/{hidden.pk}/columns/").status_code == expected
    assert api.get(f"/api/v1/datasets/{hidden.pk}/versions/1/profile/").status_code == expected
    page = api.get("/api/v1/datasets/", {"page_size": 100}).json()
    ids = {d["id"] for d in page["results"]}
    assert (hidden.pk in ids) is _sees(role)
    assert hidden.public["id"] in ids
    assert page["count"] == len(ids)


@pytest.mark.parametrize("role", ROLES)
def test_api_search_counts_and_facets(hidden, role):
    api = hidden.api[role]
    for params in ({"q": "zephyr", "facets": "true"}, {"q": "ledger zephyr", "facets": "true"}):
        found = api.get("/api/v1/datasets/", params).json()
        assert ([d["id"] for d in found["results"]] == [hidden.pk]) is _sees(role)
        assert found["count"] == (1 if _sees(role) else 0)
        domains = {f["value"]: f["count"] for f in found["facets"]["domain"]}
        assert domains == ({DOMAIN: 1} if _sees(role) else {})
    everything = api.get("/api/v1/datasets/", {"facets": "true"}).json()
    domains = {f["value"]: f["count"] for f in everything["facets"]["domain"]}
    tags = {f["value"] for f in everything["facets"]["tag"]}
    assert (DOMAIN in domains) is _sees(role) and ("zephyrtag" in tags) is _sees(role)
    assert domains["sales"] == 1
    # A URN typed into search is not turned into the hidden dataset's name for anyone who may not see it.
    by_urn = api.get("/api/v1/datasets/", {"q": hidden.urn}).json()
    if not _sees(role):
        assert hidden.pk not in {d["id"] for d in by_urn["results"]}


@pytest.mark.parametrize("role", ROLES)
def test_ui_pages(hidden, role):
    client = hidden.browser(role)
    assert client.get(f"/datasets/{hidden.pk}/").status_code == (200 if _sees(role) else 404)
    for path in ("/datasets/?q=zephyr", "/datasets/", "/", f"/lineage/?node={FEATURES}&depth=3"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        # Its link, or its name (search results highlight the words found inside the name). The
        # pending requester's home page lists their own request, with the URN they typed themselves.
        named = NAME in body and not (role == "pending" and path == "/")
        assert (f'href="/datasets/{hidden.pk}/"' in body or named) is _sees(role), path
        if path.startswith("/datasets/"):
            assert (DOMAIN in body) is _sees(role), path  # the sidebar's facet counts
    # Asked about by its URN: as for a URN nothing is known about (the page repeats what was typed).
    lineage = client.get(f"/lineage/?node={hidden.urn}")
    assert lineage.status_code == (200 if _sees(role) else 404)
    assert client.get("/lineage/?node=dataset:s3://vault:nothing").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_lineage_shows_a_hidden_node_with_its_edges(hidden, role):
    api = hidden.api[role]
    response = api.get("/api/v1/lineage", {"nodeId": FEATURES, "depth": 5})
    assert response.status_code == 200
    graph = response.json()["graph"]
    text = response.content.decode()
    assert len(graph) == 3  # the hidden dataset, the job, the features: the same shape for everyone
    assert ("vault" in text) is _sees(role)
    job = next(n for n in graph if n["type"] == "JOB")
    if _sees(role):
        assert job["inEdges"] == [{"origin": hidden.urn, "destination": job["id"]}]
    else:
        node = next(n for n in graph if n["id"].startswith("hidden:"))
        assert node["data"]["name"] == "hidden dataset" and node["data"]["namespace"] == ""
        assert node["data"]["fields"] == [] and node["data"]["catalogId"] is None
        assert node["outEdges"] == [{"origin": node["id"], "destination": job["id"]}]
        assert job["inEdges"] == [{"origin": node["id"], "destination": job["id"]}]
        assert job["data"]["inputs"] == [{"namespace": "", "name": "hidden dataset"}]
    expected = 200 if _sees(role) else 404
    assert api.get("/api/v1/lineage", {"nodeId": hidden.urn}).status_code == expected
    assert api.get("/api/v1/lineage/impact", {"nodeId": hidden.urn}).status_code == expected
    assert api.get(f"/api/v1/lineage/datasets/{hidden.pk}/runs").status_code in (
        (200,) if _sees(role) else (404,)
    )
    impact = api.get("/api/v1/lineage/impact", {"nodeId": "job:pipelines:matrix.features"})
    assert impact.status_code == 200
    run = api.get("/api/v1/lineage/runs/01890000-0000-7000-8000-00000000b001")
    assert run.status_code == 200
    assert ("vault" in run.content.decode()) is _sees(role)
    assert len(run.json()["inputs"]) == 1


@pytest.mark.parametrize("role", ROLES)
def test_governance_surfaces(hidden, role):
    api = hidden.api[role]
    clearance = api.get("/api/v1/clearance", {"datasets": hidden.urn, "purpose": "training"})
    assert clearance.status_code == (200 if _sees(role) else 400)
    if not _sees(role):
        assert "Unknown dataset" in clearance.content.decode()
    audit = api.get("/api/v1/audit/", {"object": hidden.urn}).json()
    assert bool(audit["results"]) is _sees(role)
    everything = api.get("/api/v1/audit/", {"page_size": 200}).content.decode()
    assert (NAME in everything) is _sees(role)
    card = api.get(f"/api/v1/models/{hidden.model['id']}/card")
    assert card.status_code == 200
    assert (NAME in card.content.decode()) is _sees(role)
    assert (NAME in api.get("/api/v1/models/").content.decode()) is _sees(role)


@pytest.mark.parametrize("role", BLIND)
def test_who_may_not_see_it_cannot_request_it_either(hidden, role):
    """The same answer as for a URN nobody registered: anything else would confirm it exists."""
    ask = {"datasets": [hidden.urn], "purpose": "training", "justification": "Please."}
    answer = hidden.api[role].post("/api/v1/access-requests/", ask, format="json")
    unknown = hidden.api[role].post(
        "/api/v1/access-requests/", {**ask, "datasets": ["dataset:s3://vault:nothing"]}, format="json"
    )
    assert answer.status_code == unknown.status_code == 400
    assert answer.json()["errors"]["datasets"] == [f"Unknown dataset: {hidden.urn}."]


def test_the_pending_requester_still_reads_their_own_request(hidden):
    """They typed the URN themselves; the request keeps it, the catalog still does not list it."""
    mine = hidden.api["pending"].get(f"/api/v1/access-requests/{hidden.pending_request['id']}/").json()
    assert mine["datasets"] == [hidden.urn]


def test_unhiding_shows_it_again_with_its_counts(hidden):
    outsider = hidden.api["outsider"]
    hidden.call("owner", "patch", f"/api/v1/datasets/{hidden.pk}/", {"hidden": False})
    assert outsider.get(f"/api/v1/datasets/{hidden.pk}/").status_code == 200
    assert DOMAIN in hidden.browser("outsider").get("/datasets/").content.decode()


def test_only_its_keepers_may_hide_it(hidden):
    answer = hidden.api["outsider"].patch(
        f"/api/v1/datasets/{hidden.public['id']}/", {"hidden": True}, format="json"
    )
    assert answer.status_code == 403
    bad = hidden.api["owner"].patch(
        f"/api/v1/datasets/{hidden.public['id']}/", {"hidden": "maybe"}, format="json"
    )
    assert bad.status_code == 400


def test_namespace_rules(hidden):
    outsider, staff = hidden.api["outsider"], hidden.api["staff"]
    assert (
        outsider.post("/api/v1/hidden-namespaces/", {"namespace": "s3://open"}, format="json").status_code
        == 403
    )
    assert outsider.get("/api/v1/hidden-namespaces/").status_code == 403
    rule = hidden.call(
        "staff", "post", "/api/v1/hidden-namespaces/", {"namespace": "s3://open", "note": "M&A"}
    )
    assert (
        staff.post("/api/v1/hidden-namespaces/", {"namespace": "s3://open"}, format="json").status_code == 409
    )
    assert (
        staff.post("/api/v1/hidden-namespaces/", {"namespace": " s3://x"}, format="json").status_code == 400
    )
    # The dataset already there is hidden, and so is every one registered into it later: by the API...
    assert outsider.get(f"/api/v1/datasets/{hidden.public['id']}/").status_code == 404
    later = hidden.call("owner", "post", "/api/v1/datasets/", {"namespace": "s3://open", "name": "later"})
    assert later["hidden"] is True
    # ... and through lineage.
    event = lineage_event("s3://vault", NAME, "01890000-0000-7000-8000-00000000b002")
    event["outputs"] = [{"namespace": "s3://open", "name": "from_lineage"}]
    hidden.call("owner", "post", "/api/v1/lineage", event)
    assert Dataset.objects.get(namespace="s3://open", name="from_lineage").hidden is True
    names = {d["name"] for d in outsider.get("/api/v1/datasets/").json()["results"]}
    assert names.isdisjoint({"open_table", "later", "from_lineage"})
    # While the rule stands its datasets cannot be shown; dropping it shows nothing at once.
    refused = hidden.api["owner"].patch(f"/api/v1/datasets/{later['id']}/", {"hidden": False}, format="json")
    assert refused.status_code == 400
    assert staff.delete(f"/api/v1/hidden-namespaces/{rule['id']}/").status_code == 204
    assert outsider.get(f"/api/v1/datasets/{later['id']}/").status_code == 404
    hidden.call("owner", "patch", f"/api/v1/datasets/{later['id']}/", {"hidden": False})
    assert outsider.get(f"/api/v1/datasets/{later['id']}/").status_code == 200


def test_anonymous_sees_nothing(hidden):
    assert APIClient().get("/api/v1/hidden-namespaces/").status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_events_about_it_reach_only_those_who_may_see_it(hidden, role):
    """Event deliveries are filtered by governance.events.visible_event_ids, which reads visible_to."""
    from governance.events import visible_event_ids
    from governance.models import Event

    about = Event.objects.create(name="dataset.changed", dataset_ids=[hidden.pk], namespaces=["s3://vault"])
    other = Event.objects.create(
        name="dataset.changed", dataset_ids=[hidden.public["id"]], namespaces=["s3://open"]
    )
    seen = visible_event_ids(hidden.users[role], [about, other])
    assert (about.pk in seen) is _sees(role)
    assert other.pk in seen


@pytest.mark.parametrize("role", ROLES)
def test_raw_lineage_events_naming_it_are_left_out(hidden, role):
    """The raw record (GET /lineage/events) leaves out, for who may not see it, every event naming
    the hidden dataset; the count is that of the list."""
    other = lineage_event("s3://open", "open_table", "01890000-0000-7000-8000-00000000b002", job="open.job")
    hidden.call("owner", "post", "/api/v1/lineage", other)
    response = hidden.api[role].get("/api/v1/lineage/events", {"page_size": 100})
    assert response.status_code == 200
    page = response.json()
    jobs = sorted(e["job_key"] for e in page["results"])
    text = response.content.decode()
    if _sees(role):
        # The model's training run (it read the hidden dataset), the pipeline reading it, and the other.
        assert jobs == [
            "job:mlflow://m:train:scorer",
            "job:pipelines:matrix.features",
            "job:pipelines:open.job",
        ]
        assert NAME in text and "s3://vault" in text
    else:
        assert jobs == ["job:pipelines:open.job"]
        assert NAME not in text and "s3://vault" not in text
    assert page["count"] == len(page["results"])
    # Filtered to its job, the event is still left out (not merely moved to another page).
    by_job = hidden.api[role].get("/api/v1/lineage/events", {"job": "job:pipelines:matrix.features"}).json()
    assert by_job["count"] == (1 if _sees(role) else 0)


@pytest.mark.parametrize("role", ROLES)
def test_source_scans_leave_out_errors_naming_it(hidden, role):
    """A source's scans (API list, one scan, the source's last scan, the source page and its
    partials) keep their counters but leave out errors that name a dataset hidden from the caller."""
    from catalog.models import Source, SourceScan

    source = Source.objects.create(
        name="vault-bucket", kind="s3", uri="s3://vault", owner=hidden.users["owner"]
    )
    Dataset.objects.filter(pk=hidden.pk).update(source=source)
    scan = SourceScan.objects.create(
        source=source,
        status="partial",
        found=3,
        registered=1,
        errors=[
            {"name": NAME, "message": f"could not read {NAME}"},
            {"name": "broken.csv", "message": "bad"},
        ],
    )
    api = hidden.api[role]
    listed = api.get(f"/api/v1/sources/{source.pk}/scans").json()["results"]
    one = api.get(f"/api/v1/sources/{source.pk}/scans/{scan.pk}").json()
    last = api.get(f"/api/v1/sources/{source.pk}/").json()["last_scan"]
    for answer in (listed[0], one, last):
        names = [e["name"] for e in answer["errors"]]
        assert names == ([NAME, "broken.csv"] if _sees(role) else ["broken.csv"])
        assert (answer["found"], answer["registered"]) == (3, 1)  # numbers, naming nobody
    client = hidden.browser(role)
    for path in (
        f"/sources/{source.pk}/",
        f"/sources/{source.pk}/scans/",
        f"/sources/{source.pk}/scans/{scan.pk}/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert "broken.csv" in body, path
        assert (NAME in body) is _sees(role), path
    # Nothing was written: the scan's record keeps every error.
    scan.refresh_from_db()
    assert len(scan.errors) == 2


@pytest.mark.parametrize("role", ROLES)
def test_pages_draw_a_hidden_node_without_a_link(hidden, role):
    """The lineage page and the impact page show a hidden dataset as "hidden dataset", with no link:
    asking about ``hidden:<n>`` answers as for an unknown node, so a link would lead to a 404 page
    (found walking the pages in a browser, tests/browser/test_hidden_datasets.py)."""
    event = lineage_event("s3://open", "open_table", "01890000-0000-7000-8000-00000000b003", job="open.copy")
    event["outputs"] = [{"namespace": "s3://vault", "name": NAME}]  # the hidden one is downstream
    hidden.call("owner", "post", "/api/v1/lineage", event)
    client = hidden.browser(role)
    graph = client.get("/lineage/", {"node": "dataset:s3://open:open_table", "depth": 3}).content.decode()
    impact = client.get("/lineage/impact/", {"node": "dataset:s3://open:open_table"}).content.decode()
    if _sees(role):
        assert "hidden dataset" not in graph and "hidden dataset" not in impact
        assert f'aria-label="dataset s3://vault:{NAME}"' in graph
        return
    assert NAME not in graph and NAME not in impact
    assert graph.count('<g role="img" aria-label="hidden dataset">') == 1
    assert "node=hidden" not in graph and "node=hidden" not in impact
    assert "hidden:1" not in impact and impact.count("hidden dataset") == 1
    assert client.get("/lineage/", {"node": "hidden:1"}).status_code == 404
