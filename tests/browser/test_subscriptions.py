"""Subscribing from the Subscriptions page in a real browser (strict CSP, no console errors): tick
events, give a webhook, read the secret once, see the delivery log and deliver again."""

import re

import pytest
from playwright.sync_api import expect

from catalog import services as catalog_services
from governance import access_requests, deliveries
from governance.models import Delivery, Subscription
from governance.tests.http_receiver import Receiver, verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_subscribe_read_the_secret_once_and_deliver_again(browser_as, owner, make_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver(answers=[500, 204])
    requester = make_user("rita_requester")
    dataset = catalog_services.create_dataset(
        actor=owner, namespace="s3://lake", name="credit/applications", sensitivity="confidential"
    )
    page = browser_as(owner)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.get_by_role("link", name="Subscriptions").click()
        page.get_by_label(re.compile(r"^access_request\.\*")).check()
        page.get_by_label("Dataset (URN)").fill(dataset.urn)
        page.get_by_label("Webhook URL").fill(receiver.url)
        page.get_by_role("button", name="Subscribe").click()
        sub = Subscription.objects.get()
        expect(page.locator("#subscription-secret")).to_have_text(sub.secret)
        page.reload()
        expect(page.locator("#subscription-secret")).to_have_count(0)  # shown once

        access_requests.create_access_request(
            actor=requester, datasets=[dataset.urn], purpose="training", justification="x"
        )
        deliveries.run(seconds=10)  # the receiver answers 500: the delivery waits for its retry
        Delivery.objects.update(status="failed")
        page.reload()
        expect(page.get_by_role("cell", name=re.compile("Answered 500"))).to_be_visible()
        page.get_by_role("button", name="Deliver again").click()
        expect(page.get_by_role("status")).to_contain_text("queued to be delivered again")
        deliveries.run(seconds=10)
        page.reload()
        expect(page.locator(".badge", has_text="Delivered")).to_have_count(1)
        assert len(receiver.received) == 2 and verify(receiver.received[1], sub.secret)
        assert problems == [], problems  # no CSP violation, no script error
    finally:
        receiver.close()
