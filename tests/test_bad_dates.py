"""Date-times with a time-zone offset of 16 hours or more, in every input that takes one.

ISO-8601 allows any offset below 24 hours, Python reads them, Marquez accepts them; PostgreSQL
stores none past 15:59 ("time zone displacement out of range"), so such a value used to reach the
database and come back as a 500 there. Offsets up to 23:59 are taken as the instant they name
(kept in UTC); 24:00 and more are a 400 naming the field. Run on PostgreSQL too (DATABASE_URL).
"""

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from lineage.models import LineageEvent
from tests.permissions.conftest import requester, world  # noqa: F401 -- fixtures
from tests.permissions.matrix import lineage_event

pytestmark = pytest.mark.django_db

# (offset, the UTC instant of 2026-01-10T10:00:00 at that offset)
TAKEN = [
    ("+16:00", datetime(2026, 1, 9, 18, 0, tzinfo=UTC)),
    ("-16:00", datetime(2026, 1, 11, 2, 0, tzinfo=UTC)),
    ("+23:59", datetime(2026, 1, 9, 10, 1, tzinfo=UTC)),
    ("-18:00", datetime(2026, 1, 11, 4, 0, tzinfo=UTC)),
]
REFUSED = ["+24:00", "-25:00", "+99:00"]


@pytest.mark.parametrize(("offset", "instant"), TAKEN, ids=[o for o, _ in TAKEN])
def test_an_event_time_with_a_large_offset_is_that_instant(world, offset, instant):  # noqa: F811
    ds = world.dataset
    event = lineage_event(ds["namespace"], ds["name"], "01890000-0000-7000-8000-00000000c001")
    event["eventTime"] = f"2026-01-10T10:00:00{offset}"
    client = world.client("owner")
    client.raise_request_exception = False
    response = client.post("/api/v1/lineage", event, format="json")
    assert response.status_code == 201, response.content[:300]
    stored = LineageEvent.objects.get(pk=response.json()["id"])
    assert stored.event_time == instant
    assert stored.body["eventTime"] == event["eventTime"]  # the record keeps what was sent
    run = client.get("/api/v1/lineage/runs/01890000-0000-7000-8000-00000000c001")
    assert run.status_code == 200


@pytest.mark.parametrize("offset", REFUSED)
def test_an_event_time_offset_of_a_day_or_more_is_a_400(world, offset):  # noqa: F811
    ds = world.dataset
    event = lineage_event(ds["namespace"], ds["name"], "01890000-0000-7000-8000-00000000c002")
    event["eventTime"] = f"2026-01-10T10:00:00{offset}"
    client = world.client("owner")
    client.raise_request_exception = False
    response = client.post("/api/v1/lineage", event, format="json")
    assert response.status_code == 400
    assert "eventTime" in response.json()["errors"]


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("offset", [o for o, _ in TAKEN] + REFUSED)
def test_event_list_filters_take_any_offset_or_say_why_not(world, name, offset):  # noqa: F811
    world.lineage  # noqa: B018 -- an event at 2026-01-10T10:00:00Z
    client = world.client("staff")
    client.raise_request_exception = False
    response = client.get(f"/api/v1/lineage/events?{name}=" + quote(f"2026-01-10T10:00:00{offset}"))
    if offset in REFUSED:
        assert response.status_code == 400
        assert name in response.json()["errors"]
        return
    assert response.status_code == 200, response.content[:300]
    instant = dict(TAKEN)[offset]
    expected = instant <= datetime(2026, 1, 10, 10, tzinfo=UTC) if name == "since" else False
    if name == "until":
        expected = instant >= datetime(2026, 1, 10, 10, tzinfo=UTC)
    assert (response.json()["count"] == 1) == expected


@pytest.mark.parametrize("offset", [o for o, _ in TAKEN] + REFUSED)
def test_an_access_request_expiry_takes_any_offset_or_says_why_not(world, offset):  # noqa: F811
    client = world.client("requester")
    client.raise_request_exception = False
    response = client.post(
        "/api/v1/access-requests/",
        {
            "datasets": [world.urn],
            "purpose": "training",
            "justification": "Credit model v3.",
            "expires_at": f"2030-01-10T10:00:00{offset}",
        },
        format="json",
    )
    if offset in REFUSED:
        assert response.status_code == 400
        assert "expires_at" in response.json()["errors"]
        return
    assert response.status_code == 201, response.content[:300]
    expires = datetime.fromisoformat(response.json()["expires_at"].replace("Z", "+00:00"))
    assert expires == dict(TAKEN)[offset].replace(year=2030)


@pytest.mark.parametrize("offset", ["+16:00", "+24:00"])
def test_the_access_request_service_normalises_or_refuses_text_expiries(world, offset):  # noqa: F811
    from django.core.exceptions import ValidationError

    from governance.access_requests import create_access_request

    kwargs = {
        "actor": world.users["requester"],
        "datasets": [world.urn],
        "purpose": "training",
        "justification": "Credit model v3.",
        "expires_at": f"2030-01-10T10:00:00{offset}",
    }
    if offset == "+24:00":
        with pytest.raises(ValidationError) as refused:
            create_access_request(**kwargs)
        assert "expires_at" in refused.value.message_dict
        return
    made = create_access_request(**kwargs)
    made.refresh_from_db()
    assert made.expires_at == datetime(2030, 1, 9, 18, tzinfo=UTC)
