"""Ids written with other digits than 0-9, or longer than any id, in every path segment and
parameter that takes an id: a 404 (no such route or object) or a 400 naming the parameter, never a
500, and never another object than the one the ASCII digits name.

``str.isdigit()`` is true for "²" and for Arabic-Indic "١"; ``int()`` refuses the first (a 500
where the code trusted isdigit) and reads the second as 1 (the client asked for something else).
"""

from urllib.parse import quote

import pytest

from tests.permissions.conftest import requester, world  # noqa: F401 -- fixtures
from tests.permissions.matrix import World

pytestmark = pytest.mark.django_db

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def other_digits(number: int) -> str:
    """The same number in Arabic-Indic digits (which int() reads, and isdigit() accepts)."""
    return str(number).translate(ARABIC_INDIC)


# Bad ids: a superscript, a number past any bigint, one past int()'s own digit limit.
NOT_IDS = ["²", "9" * 30, "9" * 5000]

# (path template, what {id} stands for): every API route and parameter that takes an id.
API = [
    ("/api/v1/datasets/{id}/", "dataset"),
    ("/api/v1/datasets/{id}/versions/", "dataset"),
    ("/api/v1/datasets/{id}/columns/", "dataset"),
    ("/api/v1/datasets/{id}/policy/", "dataset"),
    ("/api/v1/datasets/{id}/expectation-suite/", "dataset"),
    ("/api/v1/datasets/{id}/quality-history/", "dataset"),
    ("/api/v1/datasets/{dataset}/versions/{id}/", "version"),
    ("/api/v1/datasets/{dataset}/versions/{id}/profile/", "version"),
    ("/api/v1/access-requests/{id}", "access_request"),
    ("/api/v1/models/{id}", "model"),
    ("/api/v1/models/{id}/card", "model"),
    ("/api/v1/lineage/datasets/{id}/runs", "dataset"),
]
API_PARAMS = [
    ("/api/v1/access-requests?dataset={id}", "dataset"),
    ("/api/v1/audit?object={id}", "dataset"),
    ("/api/v1/lineage/datasets/{dataset}/runs?version={id}", "version"),
]
PAGES = [
    "/audit/?object={id}",
    "/datasets/{dataset}/profile/?version={id}",
    "/datasets/?page={id}",
    "/lineage/?depth={id}",
]


def _ids(w: World) -> dict[str, int]:
    w.lineage  # noqa: B018 -- builds it
    return {
        "dataset": w.dataset["id"],
        "version": w.version["number"],
        "access_request": w.access_request["id"],
        "model": w.model["id"],
    }


def _url(template: str, w: World, ids: dict[str, int], value: str) -> str:
    return template.format(id=quote(value), dataset=ids["dataset"])


@pytest.mark.parametrize("bad", NOT_IDS, ids=["superscript", "30 digits", "5000 digits"])
@pytest.mark.parametrize(("template", "kind"), API + API_PARAMS, ids=[t for t, _ in API + API_PARAMS])
def test_api_refuses_what_is_no_id(world, template, kind, bad):  # noqa: F811
    ids = _ids(world)
    client = world.client("staff")
    client.raise_request_exception = False
    response = client.get(_url(template, world, ids, bad))
    assert response.status_code in (200, 400, 404), response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    if response.status_code == 400:
        assert response.json()["errors"], response.json()
    if response.status_code == 200:  # a filter: it finds nothing
        assert response.json()["results"] == []


@pytest.mark.parametrize(("template", "kind"), API, ids=[t for t, _ in API])
def test_api_reads_no_other_digits_as_an_id(world, template, kind):  # noqa: F811
    ids = _ids(world)
    client = world.client("staff")
    assert client.get(_url(template, world, ids, str(ids[kind]))).status_code == 200
    response = client.get(_url(template, world, ids, other_digits(ids[kind])))
    assert response.status_code == 404, response.content[:300]


def test_filters_read_no_other_digits_as_an_id(world):  # noqa: F811
    ids = _ids(world)
    client = world.client("staff")
    found = client.get(f"/api/v1/access-requests?dataset={ids['dataset']}").json()
    assert found["count"] == 1
    other = client.get("/api/v1/access-requests?dataset=" + quote(other_digits(ids["dataset"])))
    assert other.status_code == 400
    assert "dataset" in other.json()["errors"]
    runs = client.get(
        f"/api/v1/lineage/datasets/{ids['dataset']}/runs?version=" + quote(other_digits(ids["version"]))
    )
    assert runs.status_code == 400
    assert "version" in runs.json()["errors"]


@pytest.mark.parametrize("bad", [*NOT_IDS, "١"], ids=["superscript", "30 digits", "5000 digits", "arabic"])
@pytest.mark.parametrize("template", PAGES)
def test_pages_refuse_what_is_no_id(world, web, template, bad):  # noqa: F811
    ids = _ids(world)
    client = web(world.users["staff"])
    client.raise_request_exception = False
    response = client.get(_url(template, world, ids, bad))
    assert response.status_code in (200, 400, 404)


def test_a_lineage_version_label_in_other_digits_is_only_a_label(world):  # noqa: F811
    """A datasetVersion facet of "²" is kept as the label it is, not read as version 2."""
    from tests.permissions.matrix import lineage_event

    ds = world.dataset
    world.version  # noqa: B018 -- builds it
    event = lineage_event(ds["namespace"], ds["name"], "01890000-0000-7000-8000-00000000b002")
    event["inputs"][0]["facets"] = {
        "version": {
            "_producer": event["producer"],
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
            "datasetVersion": "²",
        }
    }
    client = world.client("owner")
    client.raise_request_exception = False
    assert client.post("/api/v1/lineage", event, format="json").status_code == 201
    runs = client.get(f"/api/v1/lineage/datasets/{ds['id']}/runs").json()["results"]
    assert [(r["version"], r["catalogVersion"]) for r in runs if r["direction"] == "input"] == [("²", None)]
