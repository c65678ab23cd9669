"""Hidden datasets walked in a real browser (Playwright, Debian's chromium, against live_server).

Two datasets owned by the team "vault-team" are hidden, one by its own flag and one by a namespace
rule (``HiddenNamespace``); a pipeline reads both, and a public one, to write a visible dataset.
An outsider searches, counts, opens, follows lineage and goes home without the page's HTML ever
naming them (the lineage graph shows two "hidden dataset" nodes); a member of the team finds and
opens both; a requester whose access was approved finds and opens the one they asked for, and
nothing of the other. tests/test_hidden_datasets.py asks the same of every surface with Django's
client, for seven roles.
"""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from catalog.models import Dataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUN, LATER_RUN = "01890000-0000-7000-8000-00000000c001", "01890000-0000-7000-8000-00000000c002"
DOWNSTREAM = "dataset:s3://matrix:features"
# Everything that names one of the two hidden datasets: none of it may reach an outsider's page.
FLAGGED = {
    "name": "zephyr_ledger",
    "title": "Zephyr ledger",
    "namespace": "s3://vault",
    "domain": "vaultdomain",
}
RULED = {
    "name": "quasar_ledger",
    "title": "Quasar ledger",
    "namespace": "s3://sealed",
    "domain": "sealeddomain",
}
SECRETS = ("zephyr", "quasar", "s3://vault", "s3://sealed", "vaultdomain", "sealeddomain", "zephyrtag")


PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def _event(run: str, job: str, inputs: list[dict], outputs: list[dict]) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-10T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run},
        "job": {"namespace": "pipelines", "name": job},
        "inputs": inputs,
        "outputs": outputs,
    }


def _ledger_event() -> dict:
    """A pipeline reads the public ledger and both hidden ones, and writes s3://matrix:features
    (its column lineage names the hidden datasets' fields too)."""
    inputs = [
        {"namespace": "s3://open", "name": "open_ledger"},
        {"namespace": FLAGGED["namespace"], "name": FLAGGED["name"]},
        {"namespace": RULED["namespace"], "name": RULED["name"]},
    ]
    lineage = {"fields": {"amount": {"inputFields": [{**i, "field": "amount"} for i in inputs]}}}
    facet = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
    }
    features = {
        "namespace": "s3://matrix",
        "name": "features",
        "facets": {"columnLineage": {**facet, **lineage}},
    }
    return _event(RUN, "ledger.features", inputs, [features])


@pytest.fixture
def vault(make_user, api_client_for):
    """The world, made through the API as people would make it; hidden last."""
    team = Group.objects.create(name="vault-team")
    people = {
        "owner": make_user("olivia_owner"),
        "member": make_user("mia_member"),
        "approved": make_user("april_approved"),
        "outsider": make_user("oscar_outsider"),
        "staff": make_user("stella_staff", is_staff=True),
    }
    for role in ("owner", "member"):  # only members may give a dataset to their team
        people[role].groups.add(team)
    api = {role: api_client_for(user) for role, user in people.items()}

    def call(role, method, path, body=None):
        response = getattr(api[role], method)(path, body, format="json")
        assert 200 <= response.status_code < 300, (path, response.status_code, response.content[:300])
        return response.json() if response.content else None

    public = {"namespace": "s3://open", "name": "open_ledger", "title": "Open ledger", "domain": "sales"}
    call("owner", "post", "/api/v1/datasets/", public)
    flagged = {**FLAGGED, "tags": ["zephyrtag"], "owner_group": "vault-team"}
    flagged = call("owner", "post", "/api/v1/datasets/", flagged)
    ruled = call("owner", "post", "/api/v1/datasets/", {**RULED, "owner_group": "vault-team"})
    call("owner", "post", "/api/v1/lineage", _ledger_event())
    ask = {"datasets": [flagged["urn"]], "purpose": "training", "justification": "Ledger model."}
    request = call("approved", "post", "/api/v1/access-requests/", ask)
    call("member", "post", f"/api/v1/access-requests/{request['id']}/approve", {"comment": "ok"})
    # Hidden: one by its own flag (its team may do it), the other by a namespace rule (staff).
    call("member", "patch", f"/api/v1/datasets/{flagged['id']}/", {"hidden": True})
    call("staff", "post", "/api/v1/hidden-namespaces/", {"namespace": RULED["namespace"], "note": "M&A"})
    # Later, a pipeline writes into the hidden namespace: registered by lineage, hidden from the start
    # (downstream of the public ledger, for the impact page); staff give it to the team.
    scores = {"namespace": RULED["namespace"], "name": "quasar_scores"}
    features = {"namespace": "s3://matrix", "name": "features"}
    call("owner", "post", "/api/v1/lineage", _event(LATER_RUN, "ledger.scores", [features], [scores]))
    later = Dataset.objects.get(**scores)
    assert later.hidden is True
    call("staff", "patch", f"/api/v1/datasets/{later.pk}/", {"owner_group": "vault-team"})
    assert set(Dataset.objects.filter(hidden=True).values_list("name", flat=True)) == {
        FLAGGED["name"],
        RULED["name"],
        "quasar_scores",
    }
    return {"people": people, "flagged": flagged["id"], "ruled": ruled["id"]}


def _no_secret_in(page) -> None:
    html = page.content().lower()
    leaked = [s for s in SECRETS if s in html]
    assert not leaked, (page.url, leaked)


def _search(page, words: str) -> None:
    box = page.get_by_role("searchbox", name="Search datasets")
    box.fill(words)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/datasets/\?q="))


def _status(page):
    return page.locator("section [role=status]")


def _results(page) -> list[str]:
    return page.locator("ol.results > li > a strong").all_inner_texts()


def _facet(page, label: str) -> dict[str, str]:
    section = page.locator("aside.facets section").filter(has=page.get_by_role("heading", name=label))
    links = section.locator("a")
    return {
        links.nth(i).locator("span").first.inner_text(): links.nth(i).locator(".num").inner_text()
        for i in range(links.count())
    }


def _graph(page, node: str = DOWNSTREAM, view: str = "nodes"):
    """The lineage page's graph around ``node`` → (the SVG, its "hidden dataset" nodes)."""
    page.goto(f"/lineage/?node={node}&depth=3" + ("&view=columns" if view == "columns" else ""))
    graph = page.locator("#lineage-graph")
    expect(graph).to_be_visible()
    return graph, graph.locator(".node-hidden")


def test_an_outsider_never_learns_of_them(browser_as, vault, shot):
    page = browser_as(vault["people"]["outsider"])
    _no_secret_in(page)  # the home page: recent datasets, teams, requests
    expect(page.locator("section[aria-labelledby=recent-h]")).to_contain_text("Open ledger")

    # Search: the public ledger alone, counted alone; the facets count only what is listed.
    _search(page, "ledger")
    expect(_status(page)).to_have_text("1 dataset matching “ledger”")
    assert _results(page) == ["Open ledger"]
    assert _facet(page, "Domain") == {"sales": "1"}
    _no_secret_in(page)
    shot(page, "hidden-search-outsider")
    page.get_by_role("link", name="Datasets", exact=True).click()
    visible = Dataset.objects.filter(hidden=False).count()
    expect(_status(page)).to_have_text(f"{visible} datasets")
    assert len(_results(page)) == visible
    assert sum(int(n) for n in _facet(page, "Domain").values()) == 1  # the public ledger's "sales"
    _no_secret_in(page)
    # Its own name finds nothing (the page repeats the words typed, nothing more).
    _search(page, "zephyr")
    expect(_status(page)).to_have_text("0 datasets matching “zephyr”")
    assert page.locator("ol.results a").count() == 0

    # Their pages, and every page and partial beneath, answer as for a dataset that never was.
    for pk in (vault["flagged"], vault["ruled"], 987654):
        for below in ("", "profile/", "access/", "monitoring/", "privacy/", "versions/", "columns/"):
            response = page.goto(f"/datasets/{pk}/{below}")
            assert response.status == 404, response.url
            _no_secret_in(page)

    # Lineage of the visible downstream dataset: the pipeline still reads two things (and the later
    # one writes a third), unnamed, drawn but not links (asking about them would say "unknown").
    graph, hidden = _graph(page)
    expect(graph).to_contain_text("open_ledger")
    expect(hidden).to_have_count(3)
    expect(graph.get_by_role("img", name="hidden dataset")).to_have_count(3)
    for i in range(3):
        expect(hidden.nth(i).locator("text").first).to_have_text("hidden dataset")
    assert hidden.locator("a").count() == 0
    _no_secret_in(page)
    shot(page, "hidden-lineage-outsider")
    page.get_by_role("link", name="Open the dataset page").click()  # the downstream dataset's own page
    expect(page.get_by_role("heading", name="features")).to_be_visible()
    _no_secret_in(page)
    graph, hidden = _graph(page, view="columns")  # column lineage: the hidden inputs' fields
    expect(graph).to_contain_text("amount")
    expect(hidden).to_have_count(2)
    _no_secret_in(page)
    # Asked about by its URN, a hidden dataset is unknown, as a URN nobody registered.
    assert page.goto(f"/lineage/?node=dataset:{FLAGGED['namespace']}:{FLAGGED['name']}").status == 404
    assert page.goto("/lineage/?node=hidden:1").status == 404

    # Impact of the public ledger: the hidden dataset downstream is counted, not named or linked.
    page.goto("/lineage/impact/?node=dataset:s3://open:open_ledger")
    expect(page.get_by_role("status")).to_contain_text("4 nodes downstream")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="hidden dataset")).to_have_count(1)
    expect(rows.filter(has_text="hidden dataset").locator("a")).to_have_count(0)
    _no_secret_in(page)

    for path in ("/models/", "/audit/", "/access/", "/subscriptions/", "/"):
        page.goto(path)
        _no_secret_in(page)


def test_a_member_of_the_owning_team_finds_and_opens_them(browser_as, vault):
    page = browser_as(vault["people"]["member"])
    my_teams = page.locator("#my-teams")
    for title in ("Zephyr ledger", "Quasar ledger", "quasar_scores"):
        expect(my_teams).to_contain_text(title)
    _search(page, "ledger")
    expect(_status(page)).to_have_text("3 datasets matching “ledger”")
    assert sorted(_results(page)) == ["Open ledger", "Quasar ledger", "Zephyr ledger"]
    assert _facet(page, "Domain") == {"sales": "1", "sealeddomain": "1", "vaultdomain": "1"}
    page.get_by_role("link", name="Quasar ledger").click()
    expect(page.get_by_role("heading", name="Quasar ledger")).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="Zephyr ledger").click()
    expect(page.get_by_role("heading", name="Zephyr ledger")).to_be_visible()
    graph, hidden = _graph(page)
    for name in ("zephyr_ledger", "quasar_ledger", "quasar_scores"):
        expect(graph).to_contain_text(name)
    expect(hidden).to_have_count(0)
    graph.get_by_role("link", name=f"dataset {RULED['namespace']}:{RULED['name']}").click()
    expect(page.get_by_role("link", name="Open the dataset page")).to_be_visible()


def test_an_approved_requester_finds_the_one_they_asked_for(browser_as, vault):
    page = browser_as(vault["people"]["approved"])
    _search(page, "ledger")
    expect(_status(page)).to_have_text("2 datasets matching “ledger”")
    assert sorted(_results(page)) == ["Open ledger", "Zephyr ledger"]
    assert _facet(page, "Domain") == {"sales": "1", "vaultdomain": "1"}
    page.get_by_role("link", name="Zephyr ledger").click()
    expect(page.get_by_role("heading", name="Zephyr ledger")).to_be_visible()
    expect(page.locator("#access-panel")).to_contain_text("Cleared")
    # The others stay unknown to them, on their pages and in the graph.
    assert page.goto(f"/datasets/{vault['ruled']}/").status == 404
    graph, hidden = _graph(page)
    expect(graph).to_contain_text("zephyr_ledger")
    expect(hidden).to_have_count(2)
    html = page.content().lower()
    assert "quasar" not in html and "s3://sealed" not in html
