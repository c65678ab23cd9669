"""/api/v1/subscriptions/: subscribe, see and change your own (and your groups'), the delivery log and
"deliver again"; bad input is a 4xx that names the field and writes nothing."""

import pytest
from django.contrib.auth.models import Group

from governance import access_requests, deliveries
from governance.models import Delivery, Subscription
from governance.tests.http_receiver import verify

pytestmark = pytest.mark.django_db

URL = "/api/v1/subscriptions/"


@pytest.fixture
def dataset(make_dataset):
    return make_dataset("confidential")


def subscribe(client, **body):
    return client.post(URL, {"events": ["access_request.*"], **body}, format="json")


def test_subscribe_see_change_and_delete(owner, dataset, api_client_for, make_receiver):
    r = make_receiver()
    client = api_client_for(owner)
    made = subscribe(client, dataset=dataset.urn, url=r.url, email=True)
    assert made.status_code == 201, made.content
    body = made.json()
    assert len(body["secret"]) >= 32
    assert {
        k: body[k]
        for k in ("events", "dataset", "namespace", "group", "owner", "url", "email", "format", "active")
    } == {
        "events": ["access_request.*"],
        "dataset": dataset.urn,
        "namespace": None,
        "group": None,
        "owner": owner.username,
        "url": r.url,
        "email": True,
        "format": "json",
        "active": True,
    }
    one = client.get(f"{URL}{body['id']}/")
    assert one.status_code == 200 and "secret" not in one.json()  # shown once
    listed = client.get(URL).json()
    assert [s["id"] for s in listed["results"]] == [body["id"]] and "secret" not in listed["results"][0]
    changed = client.patch(
        f"{URL}{body['id']}/", {"events": ["version.stored", "profile.*"], "active": False}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["events"] == ["version.stored", "profile.*"] and changed.json()["active"] is False
    assert client.delete(f"{URL}{body['id']}/").status_code == 204
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"events": []}, "events", "at least"),
        ({"events": "access_request.*"}, "events", "list"),
        ({"events": ["access_requests.*"]}, "events", "names no event"),
        ({"events": ["version.stored; drop table"]}, "events", "not an event name"),
        ({"url": "ftp://example.org/x"}, "url", "https://"),
        ({"url": "https://me:pw@example.org/x"}, "url", "password"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "link-local"),
        ({"url": "http://127.0.0.1:8000/hook"}, "url", "loopback"),
        ({"email": False}, "url", "how to deliver"),
        ({"email": True, "format": "slack"}, "format", "Slack"),
        ({"email": True, "format": "xml"}, "format", ""),
        ({"email": True, "namespace": "s3://lake", "dataset": "DATASET"}, "namespace", "not both"),
        ({"email": True, "group": "nobody-has-this"}, "group", "No group"),
        ({"email": "maybe"}, "email", ""),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    owner, dataset, api_client_for, body, field, words, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    body = {k: (dataset.urn if v == "DATASET" else v) for k, v in body.items()}
    answer = api_client_for(owner).post(URL, {"events": ["access_request.*"], **body}, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"] and words in " ".join(answer.json()["errors"][field])
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("urn", ["dataset:s3://lake:no/such", "not-a-urn", "dataset:", "dataset:x:\u0000"])
def test_a_dataset_that_does_not_exist_is_a_404(owner, api_client_for, urn):
    answer = subscribe(api_client_for(owner), dataset=urn, email=True)
    assert answer.status_code in (400, 404), answer.content
    assert answer.status_code == 400 or urn[:10] in answer.json()["detail"]
    assert not Subscription.objects.exists()


def test_a_group_is_one_you_belong_to(owner, outsider, api_client_for):
    team = Group.objects.create(name="risk")
    owner.groups.add(team)
    refused = subscribe(api_client_for(outsider), group="risk", email=True)
    assert refused.status_code == 403 and not Subscription.objects.exists()
    made = subscribe(api_client_for(owner), group="risk", email=True)
    assert made.status_code == 201 and made.json()["group"] == "risk"
    # Any member manages the group's subscription; others do not see it.
    outsider.groups.add(team)
    sid = made.json()["id"]
    assert api_client_for(outsider).patch(f"{URL}{sid}/", {"active": False}, format="json").status_code == 200
    outsider.groups.remove(team)
    assert api_client_for(outsider).get(f"{URL}{sid}/").status_code == 404


def test_someone_elses_subscription_is_not_found(owner, steward, staff, dataset, api_client_for):
    sid = subscribe(api_client_for(owner), email=True).json()["id"]
    for other in (steward, staff):
        client = api_client_for(other)
        assert client.get(f"{URL}{sid}/").status_code == 404
        assert client.patch(f"{URL}{sid}/", {"active": False}, format="json").status_code == 404
        assert client.delete(f"{URL}{sid}/").status_code == 404
        assert client.get(f"{URL}{sid}/deliveries").status_code == 404
        assert client.get(URL).json()["count"] == 0
    assert Subscription.objects.get().active


def test_a_private_url_is_refused_when_changed_too(owner, api_client_for, settings):
    client = api_client_for(owner)
    sid = subscribe(client, email=True).json()["id"]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    answer = client.patch(f"{URL}{sid}/", {"url": "http://10.0.0.8/hook"}, format="json")
    assert answer.status_code == 400 and "private address" in answer.json()["errors"]["url"][0]
    assert Subscription.objects.get().url == ""
    assert (
        client.patch(f"{URL}{sid}/", {"owner": "someone"}, format="json").status_code == 200
    )  # unknown keys ignored


def test_the_delivery_log_and_deliver_again(owner, requester, dataset, api_client_for, make_receiver):
    r = make_receiver(answers=[500, 204, 204])
    client = api_client_for(owner)
    made = subscribe(client, url=r.url).json()
    req = access_requests.create_access_request(
        actor=requester, datasets=[dataset.urn], purpose="training", justification="x"
    )
    deliveries.run(seconds=10)
    log = client.get(f"{URL}{made['id']}/deliveries").json()
    assert log["count"] == 1
    (entry,) = log["results"]
    assert entry["event"]["name"] == "access_request.created" and entry["status"] == "retrying"
    assert (entry["attempts"], entry["last_status_code"], entry["error"]) == (1, 500, "Answered 500.")
    assert entry["next_attempt_at"] is not None and entry["channel"] == "webhook"
    # Still under way: deliver again waits for the outcome.
    again = f"{URL}{made['id']}/deliveries/{entry['id']}/redeliver"
    assert client.post(again).status_code == 409
    Delivery.objects.filter(pk=entry["id"]).update(status="failed")
    queued = client.post(again)
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    deliveries.run(seconds=10)
    log = client.get(f"{URL}{made['id']}/deliveries").json()["results"]
    assert [(e["status"], e["redelivery_of"]) for e in log] == [("delivered", entry["id"]), ("failed", None)]
    first, second = r.received
    assert first.body == second.body and verify(second, made["secret"])
    assert second.json()["data"]["access_request"]["id"] == req.pk
    missing = client.post(f"{URL}{made['id']}/deliveries/999999/redeliver")
    assert missing.status_code == 404


def test_anonymous_callers_are_refused(anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, {"events": ["*"], "email": True}, format="json").status_code == 401


@pytest.mark.parametrize("bad", ["²", "9" * 30, "١", "9" * 5000])
def test_what_is_no_id_is_a_404_never_a_500(owner, api_client_for, web, bad):
    from urllib.parse import quote

    sid = subscribe(api_client_for(owner), email=True).json()["id"]
    client = api_client_for(owner)
    client.raise_request_exception = False
    for path in (
        f"{URL}{quote(bad)}/",
        f"{URL}{quote(bad)}/deliveries",
        f"{URL}{sid}/deliveries/{quote(bad)}/redeliver",
    ):
        answer = client.post(path) if path.endswith("redeliver") else client.get(path)
        assert answer.status_code == 404, (path[:80], answer.status_code)
    page = web(owner)
    page.raise_request_exception = False
    for path in (f"/subscriptions/{quote(bad)}/", f"/subscriptions/{sid}/deliveries/{quote(bad)}/redeliver/"):
        answer = page.post(path) if path.endswith("redeliver/") else page.get(path)
        assert answer.status_code == 404, (path[:80], answer.status_code)
