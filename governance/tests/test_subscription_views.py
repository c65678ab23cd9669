"""The Subscriptions pages: subscribe with checkboxes, the secret shown once, the delivery log with
"Deliver again", pause and delete; someone else's subscription is a 404; user text is escaped."""

import pytest

from governance import access_requests, deliveries, subscriptions
from governance.models import Delivery, Subscription

pytestmark = pytest.mark.django_db


def test_subscribe_from_the_page_and_see_the_secret_once(web, owner, make_dataset, make_receiver):
    r = make_receiver()
    ds = make_dataset("confidential")
    page = web(owner).get(f"/subscriptions/?dataset={ds.urn}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="checkbox" name="events" value="access_request.*"' in html and ds.urn in html
    made = web(owner).post(
        "/subscriptions/",
        {"events": ["access_request.*", "version.stored"], "dataset": ds.urn, "url": r.url, "format": "json"},
    )
    sub = Subscription.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/subscriptions/{sub.pk}/"
    assert sub.events == ["access_request.*", "version.stored"] and sub.dataset == ds and sub.url == r.url
    first = web(owner).get(made["Location"]).content.decode()
    assert sub.secret in first and "not shown again" in first
    again = web(owner).get(made["Location"]).content.decode()
    assert sub.secret not in again


def test_refusals_are_shown_beside_their_field(web, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    answer = web(owner).post(
        "/subscriptions/", {"events": ["version.stored"], "url": "http://127.0.0.1/x", "format": "json"}
    )
    assert answer.status_code == 400 and "loopback" in answer.content.decode()
    answer = web(owner).post(
        "/subscriptions/",
        {"events": ["version.stored"], "dataset": "dataset:x:nope", "email": "on", "format": "json"},
    )
    assert answer.status_code == 400 and "No dataset dataset:x:nope" in answer.content.decode()
    answer = web(owner).post("/subscriptions/", {"format": "json", "email": "on"})
    assert answer.status_code == 400 and "Tick at least one event" in answer.content.decode()
    assert not Subscription.objects.exists()


def test_user_text_is_escaped(web, owner):
    subscriptions.create_subscription(
        actor=owner, events=["*"], namespace="<script>alert(1)</script>", email=True
    )
    html = web(owner).get("/subscriptions/").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_delivery_log_and_deliver_again(web, owner, requester, make_dataset, make_receiver):
    r = make_receiver(answers=[500])
    ds = make_dataset("confidential")
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.*"], url=r.url)
    access_requests.create_access_request(
        actor=requester, datasets=[ds.urn], purpose="training", justification="x"
    )
    deliveries.run(seconds=10)
    Delivery.objects.update(status="failed")
    page = web(owner).get(f"/subscriptions/{sub.pk}/").content.decode()
    assert "access_request.created" in page and "Answered 500." in page and "Deliver again" in page
    d = Delivery.objects.get()
    answer = web(owner).post(f"/subscriptions/{sub.pk}/deliveries/{d.pk}/redeliver/")
    assert answer.status_code == 302
    assert Delivery.objects.filter(redelivery_of=d, status="pending").exists()
    # Still under way: said, not queued twice.
    web(owner).post(f"/subscriptions/{sub.pk}/deliveries/{d.pk}/redeliver/")
    assert Delivery.objects.count() == 2


def test_pause_resume_and_delete(web, owner):
    sub, _ = subscriptions.create_subscription(actor=owner, events=["*"], email=True)
    web(owner).post(f"/subscriptions/{sub.pk}/toggle/")
    assert not Subscription.objects.get().active
    web(owner).post(f"/subscriptions/{sub.pk}/toggle/")
    assert Subscription.objects.get().active
    assert web(owner).post(f"/subscriptions/{sub.pk}/delete/")["Location"] == "/subscriptions/"
    assert not Subscription.objects.exists()


def test_someone_elses_subscription_is_not_found(web, owner, outsider):
    sub, _ = subscriptions.create_subscription(actor=owner, events=["*"], email=True)
    client = web(outsider)
    assert client.get(f"/subscriptions/{sub.pk}/").status_code == 404
    assert client.post(f"/subscriptions/{sub.pk}/toggle/").status_code == 404
    assert client.post(f"/subscriptions/{sub.pk}/delete/").status_code == 404
    assert client.post(f"/subscriptions/{sub.pk}/deliveries/1/redeliver/").status_code == 404
    assert f"#{sub.pk}" not in client.get("/subscriptions/").content.decode()
    assert Subscription.objects.get().active


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get("/subscriptions/").status_code == 302


def test_staff_read_subscriptions_and_deliveries_in_the_admin_without_their_secret(client, make_user, owner):
    sub, secret = subscriptions.create_subscription(actor=owner, events=["*"], email=True)
    admin = make_user("ada_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    listed = client.get("/admin/governance/subscription/")
    assert listed.status_code == 200 and f">{sub.pk}<" in listed.content.decode()
    one = client.get(f"/admin/governance/subscription/{sub.pk}/change/")
    assert one.status_code == 200 and secret not in one.content.decode()
    assert client.get("/admin/governance/delivery/").status_code == 200
