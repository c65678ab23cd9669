"""Deliveries against real local receivers: signed webhooks, Slack's format, e-mail, retries with
backoff, a receiver that times out, redirects or answers 10 MB, addresses refused at delivery time,
leases taken over, and who hears of what."""

import json
from datetime import timedelta

import pytest
from celery import current_app
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from governance import access_requests, deliveries, events, subscriptions
from governance.models import Channel, Delivery, DeliveryStatus, Event, Subscription
from governance.tests.http_receiver import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(make_dataset):
    return make_dataset("confidential")


def ask(requester, dataset, n: int = 1) -> list:
    return [
        access_requests.create_access_request(
            actor=requester, datasets=[dataset.urn], purpose="training", justification=f"model {i}"
        )
        for i in range(n)
    ]


def due_now() -> None:
    """The backoff is over (what waiting would do)."""
    Delivery.objects.filter(status__in=deliveries.DUE).update(due_at=timezone.now() - timedelta(seconds=1))


def test_a_signed_webhook_reaches_its_receiver(owner, requester, dataset, make_receiver):
    r = make_receiver()
    sub, secret = subscriptions.create_subscription(actor=owner, events=["access_request.*"], url=r.url)
    (req,) = ask(requester, dataset)
    assert deliveries.run(seconds=10) == 1
    (got,) = r.received
    event = Event.objects.get(name="access_request.created")
    assert got.json() == {
        "id": str(event.uid),
        "event": "access_request.created",
        "occurred_at": event.occurred_at.isoformat(),
        "data": event.data,
    }
    assert got.headers["X-Gouvernail-Event"] == "access_request.created"
    assert got.headers["X-Gouvernail-Delivery"] == str(event.uid)
    assert got.headers["Content-Type"] == "application/json"
    assert verify(got, secret) and not verify(got, "another-secret")
    d = Delivery.objects.get(subscription=sub)
    assert (d.status, d.attempts, d.last_status_code, d.error) == ("delivered", 1, 204, "")
    assert d.delivered_at is not None and d.claim_token == ""
    assert got.json()["data"]["access_request"]["id"] == req.pk


def test_slack_format_is_what_an_incoming_webhook_takes(owner, dataset, make_receiver, add_version):
    r = make_receiver(answers=[200])
    dataset.title = "x"
    subscriptions.create_subscription(actor=owner, events=["version.stored"], url=r.url, format="slack")
    events.record(
        "version.stored",
        {"dataset": {"urn": "dataset:a:<b>&c"}, "version": {"number": 2}},
        datasets=[dataset],
    )
    deliveries.run(seconds=10)
    (got,) = r.received
    assert list(got.json()) == ["text"]
    assert "dataset:a:&lt;b&gt;&amp;c" in got.json()["text"] and "<b>" not in got.json()["text"]


def test_e_mail_goes_through_djangos_backend(owner, requester, dataset):
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.created"], email=True)
    mail.outbox.clear()
    (req,) = ask(requester, dataset)
    deliveries.run(seconds=10)
    sent = [m for m in mail.outbox if m.subject.startswith("[Gouvernail] Access request")]
    assert len(sent) == 1 and sent[0].to == [owner.email]
    assert f"Access request #{req.pk}" in sent[0].subject and f"Subscription #{sub.pk}" in sent[0].body
    assert Delivery.objects.get(subscription=sub).status == "delivered"


def test_a_500_is_retried_with_backoff_then_delivered(owner, requester, dataset, make_receiver):
    r = make_receiver(answers=[500, 200])
    sub, secret = subscriptions.create_subscription(actor=owner, events=["access_request.*"], url=r.url)
    ask(requester, dataset)
    before = timezone.now()
    deliveries.run(seconds=10)
    d = Delivery.objects.get(subscription=sub)
    assert (d.status, d.attempts, d.last_status_code, d.error) == ("retrying", 1, 500, "Answered 500.")
    assert d.due_at > before + timedelta(seconds=5)  # EVENTS_RETRY_BASE_SECONDS (10) ± 20 %
    deliveries.run(seconds=10)
    assert len(r.received) == 1  # not due yet
    due_now()
    deliveries.run(seconds=10)
    d.refresh_from_db()
    assert (d.status, d.attempts, d.last_status_code) == ("delivered", 2, 200)
    first, second = r.received
    assert first.body == second.body and verify(second, secret)
    assert first.headers["X-Gouvernail-Delivery"] == second.headers["X-Gouvernail-Delivery"]


def test_backoff_doubles_and_the_last_attempt_gives_up(owner, requester, dataset, make_receiver, settings):
    settings.EVENTS_DELIVERY_MAX_ATTEMPTS = 3
    r = make_receiver(answers=[503])
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.*"], url=r.url)
    ask(requester, dataset)
    for _ in range(3):
        due_now()
        deliveries.run(seconds=10)
    d = Delivery.objects.get(subscription=sub)
    assert (d.status, d.attempts, d.last_status_code) == ("failed", 3, 503) and len(r.received) == 3
    for n in (1, 2, 3, 4):  # 10 s x 2^(n-1), ± 20 %
        assert 8 * 2 ** (n - 1) <= deliveries.backoff(n) <= 12 * 2 ** (n - 1)
    settings.EVENTS_RETRY_MAX_SECONDS = 30
    assert deliveries.backoff(10) <= 36


def test_a_timeout_redirect_or_huge_answer_is_a_logged_outcome(
    owner, requester, dataset, make_receiver, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    target = make_receiver()
    slow, moved, huge = (
        make_receiver(delay=3),
        make_receiver(redirect_to=target.url),
        make_receiver(answers=[200], body_bytes=10 * 1024 * 1024),
    )
    subs = {
        name: subscriptions.create_subscription(actor=owner, events=["access_request.created"], url=r.url)[0]
        for name, r in (("slow", slow), ("moved", moved), ("huge", huge))
    }
    ask(requester, dataset)
    deliveries.run(seconds=10)
    got = {name: Delivery.objects.get(subscription=sub) for name, sub in subs.items()}
    assert (got["slow"].status, got["slow"].last_status_code) == ("retrying", None)
    assert got["slow"].error == "No answer within 0.5 s."
    assert (got["moved"].status, got["moved"].last_status_code) == ("retrying", 302)
    assert "redirects are not followed" in got["moved"].error and target.received == []
    assert (got["huge"].status, got["huge"].last_status_code) == ("delivered", 200)
    assert len(got["huge"].response) == 1000


def test_an_address_refused_at_delivery_is_not_retried(owner, requester, dataset, make_receiver, settings):
    r = make_receiver()
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.*"], url=r.url)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # e.g. the operator turned it off since
    ask(requester, dataset)
    deliveries.run(seconds=10)
    d = Delivery.objects.get(subscription=sub)
    assert d.status == "failed" and "loopback" in d.error and r.received == []


def test_a_dead_receiver_costs_one_attempt_per_batch_and_order_is_kept(
    owner, requester, dataset, make_receiver
):
    r = make_receiver(answers=[500, 204])
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.created"], url=r.url)
    reqs = ask(requester, dataset, 3)
    deliveries.run(seconds=10)
    log = list(Delivery.objects.filter(subscription=sub).order_by("event_id"))
    assert [(d.status, d.attempts) for d in log] == [("retrying", 1), ("pending", 0), ("pending", 0)]
    assert len(r.received) == 1
    due_now()
    deliveries.run(seconds=10)
    assert [r_.json()["data"]["access_request"]["id"] for r_ in r.received] == [
        reqs[0].pk,
        *[q.pk for q in reqs],
    ]
    assert set(Delivery.objects.filter(subscription=sub).values_list("status", flat=True)) == {"delivered"}


def test_a_lease_taken_over_is_not_written_by_the_worker_that_lost_it(owner, requester, dataset):
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.*"], email=True)
    ask(requester, dataset)
    deliveries.fan_out()
    token, (claimed,) = deliveries.claim_due(limit=10)
    assert deliveries.claim_due(limit=10) == ("", [])  # leased: nobody else takes it
    # That worker dies; the lease runs out; another takes it over and delivers it.
    Delivery.objects.filter(pk=claimed.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    token2, (again,) = deliveries.claim_due(limit=10)
    assert again.pk == claimed.pk and again.attempts == 2 and token2 != token
    deliveries.deliver([again], token=token2)
    late = deliveries.Outcome(deliveries.Job(claimed.pk, 1, sub.pk, Channel.EMAIL), error="late")
    deliveries.record([late], token=token)
    assert Delivery.objects.get(pk=claimed.pk).status == "delivered"


def test_each_subscriber_hears_only_of_what_they_may_see(
    owner, steward, outsider, requester, dataset, make_dataset, make_receiver
):
    r = make_receiver()
    other = make_dataset("internal", name="other/table")
    subs = {
        "owner": subscriptions.create_subscription(actor=owner, events=["*"], url=r.url)[0],
        "outsider": subscriptions.create_subscription(actor=outsider, events=["*"], url=r.url)[0],
        "to the dataset": subscriptions.create_subscription(
            actor=steward, events=["*"], dataset=dataset.urn, url=r.url
        )[0],
        "to a namespace": subscriptions.create_subscription(
            actor=outsider, events=["version.stored"], namespace="s3://lake", url=r.url
        )[0],
        "elsewhere": subscriptions.create_subscription(
            actor=outsider, events=["*"], namespace="gs://else", url=r.url
        )[0],
    }
    ask(requester, dataset)
    events.record("version.stored", {"dataset": events.dataset_ref(other)}, datasets=[other])
    deliveries.run(seconds=10)
    heard = {
        name: sorted(Delivery.objects.filter(subscription=sub).values_list("event__name", flat=True))
        for name, sub in subs.items()
    }
    assert heard == {
        "owner": ["access_request.created", "version.stored"],
        "outsider": ["version.stored"],  # not someone else's access request
        "to the dataset": ["access_request.created"],
        "to a namespace": ["version.stored"],
        "elsewhere": [],
    }


def test_a_group_subscription_follows_membership(owner, steward, requester, dataset):
    team = Group.objects.create(name="credit-team")
    owner.groups.add(team)
    steward.groups.add(team)
    sub, _ = subscriptions.create_subscription(
        actor=owner, events=["access_request.created"], group="credit-team", email=True
    )
    mail.outbox.clear()
    ask(requester, dataset)
    deliveries.run(seconds=10)
    sent = [m for m in mail.outbox if m.subject.startswith("[Gouvernail] Access request")]
    assert sorted(m.to[0] for m in sent) == sorted([owner.email, steward.email])  # one message each
    owner.groups.remove(team)  # its maker left the group: it hears nothing more
    ask(requester, dataset)
    deliveries.run(seconds=10)
    assert Delivery.objects.filter(subscription=sub).count() == 1


def test_a_paused_subscription_hears_nothing_and_what_was_queued_is_logged(owner, requester, dataset):
    sub, _ = subscriptions.create_subscription(actor=owner, events=["access_request.*"], email=True)
    ask(requester, dataset)
    deliveries.fan_out()
    subscriptions.update_subscription(actor=owner, subscription=sub, active=False)
    ask(requester, dataset)
    deliveries.run(seconds=10)
    (d,) = Delivery.objects.filter(subscription=sub)
    assert d.status == "failed" and "paused" in d.error


def test_an_event_is_fanned_out_once(owner, requester, dataset):
    subscriptions.create_subscription(actor=owner, events=["access_request.*"], email=True)
    ask(requester, dataset, 2)
    assert deliveries.fan_out() == 2
    assert deliveries.fan_out() == 0
    assert Delivery.objects.count() == 2 and not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_the_operators_webhook_is_the_system_subscription(settings, requester, dataset, make_receiver):
    r = make_receiver()
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the operator's own URL is trusted, private or not
    settings.GOVERNANCE_WEBHOOK_URL, settings.GOVERNANCE_WEBHOOK_SECRET = r.url, "op-secret"
    ask(requester, dataset)
    deliveries.run(seconds=10)
    (got,) = r.received
    body = got.json()
    assert verify(got, "op-secret")
    # The envelope, and the former webhook's fields where its receivers read them.
    assert body["event"] == "access_request.created" and body["id"] == got.headers["X-Gouvernail-Delivery"]
    assert body["access_request"] == body["data"]["access_request"] and body["at"] == body["occurred_at"]
    system = Subscription.objects.get(system=True)
    assert (system.active, system.format, system.events) == (True, "legacy", ["access_request.*"])
    settings.GOVERNANCE_WEBHOOK_SECRET = ""
    assert subscriptions.sync_system_subscription() is None
    assert not Subscription.objects.get(system=True).active


def test_a_run_queues_the_next_for_the_next_retry(owner, requester, dataset, monkeypatch):
    subscriptions.create_subscription(actor=owner, events=["access_request.*"], email=True)
    ask(requester, dataset)
    deliveries.fan_out()
    Delivery.objects.update(status=DeliveryStatus.RETRYING, due_at=timezone.now() + timedelta(seconds=20))
    sent = []
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append((name, kw)))
    deliveries._wakes.clear()
    delay = deliveries.wake_up()
    assert 15 < delay <= 20 and sent == [(events.DELIVER_TASK, {"countdown": delay + 0.05})]
    assert deliveries.wake_up() is None and len(sent) == 1  # one wake-up for that moment


def test_old_events_are_forgotten(owner, requester, dataset):
    subscriptions.create_subscription(actor=owner, events=["access_request.*"], email=True)
    ask(requester, dataset, 2)
    deliveries.run(seconds=10)
    Event.objects.filter(pk=Event.objects.order_by("pk").first().pk).update(
        occurred_at=timezone.now() - timedelta(days=40)
    )
    assert deliveries.prune() == 1
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1
    assert json.loads(json.dumps(Event.objects.get().data))
