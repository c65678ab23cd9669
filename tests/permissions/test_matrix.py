"""Every /api/v1/ endpoint, called as each role: the status its row declares, and a refused write
changes nothing. How to add an endpoint: tests/permissions/matrix.py."""

from collections import Counter

import pytest

from tests.permissions.endpoints import ROWS
from tests.permissions.matrix import IMPLICIT, OK, Row, World, api_routes, canonical, cases, check, matches

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("row", "role"), cases(ROWS))
def test_permission_matrix(row: Row, role: str, world: World):
    check(row, role, world)


def test_every_route_and_method_has_a_row():
    declared = {(row.path, row.method) for row in ROWS}
    missing = sorted(
        f"{method} {path}"
        for path, methods in api_routes().items()
        for method in methods
        if (path, method) not in declared
    )
    assert not missing, "routes without a row in tests/permissions/endpoints.py:\n" + "\n".join(missing)


def test_every_row_names_a_route_and_a_served_method_or_expects_405():
    routes = api_routes()
    for row in ROWS:
        assert row.path in routes, f"{row.id}: no such route (is it spelled as canonical() spells it?)"
        if row.method not in routes[row.path]:
            refused = {role: expected for role, expected in row.expect.items() if role != "anonymous"}
            assert all(e == 405 for e in refused.values()), f"{row.id}: the route does not serve {row.method}"


def test_rows_are_told_apart():
    counts = Counter(row.id for row in ROWS)
    assert [row_id for row_id, n in counts.items() if n > 1] == []


def test_the_route_enumeration_sees_what_the_api_serves():
    """A guard on the guard: known routes and methods are found, and the implicit methods are not."""
    routes = api_routes()
    assert routes["/api/v1/datasets/{pk}/"] == {"GET", "PUT", "PATCH", "DELETE"}
    assert routes["/api/v1/datasets/{dataset_pk}/versions/{number}/profile/"] == {"GET", "POST"}
    assert routes["/api/v1/access-requests/{pk}/approve"] == {"POST"}
    assert routes["/api/v1/models/{pk}"] == {"GET", "PATCH"}  # PUT is routed but not in http_method_names
    assert routes["/api/v1/audit/{pk}"] == {"GET"}
    assert not any(m in IMPLICIT for methods in routes.values() for m in methods)
    assert (
        canonical(r"api/v1/^access-requests/(?P<pk>\d+)/approve/?$") == "/api/v1/access-requests/{pk}/approve"
    )
    assert canonical("api/v1/lineage/datasets/<path:ref>/runs") == "/api/v1/lineage/datasets/{ref}/runs"
    assert matches(204, OK) and matches(404, (403, 404)) and not matches(403, 401)
