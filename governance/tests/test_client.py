"""governance.client.require_clearance against a live server, as a pipeline calls it."""

import pytest
from rest_framework.authtoken.models import Token

from governance import access_requests
from governance.client import ClearanceDenied, ClearanceError, require_clearance

pytestmark = pytest.mark.django_db(transaction=True)


def test_require_clearance(live_server, requester, owner, steward, pipeline, make_dataset, monkeypatch):
    conf = make_dataset("confidential")
    pub = make_dataset("public")
    token = Token.objects.create(user=requester).key
    monkeypatch.setenv("GOUVERNAIL_URL", live_server.url)
    monkeypatch.setenv("GOUVERNAIL_TOKEN", token)

    with pytest.raises(ClearanceDenied) as denied:
        require_clearance([conf.urn, pub.urn], "training")
    assert list(denied.value.reasons) == [conf.urn]
    assert "not cleared" in str(denied.value) and conf.urn in str(denied.value)
    assert denied.value.answer["allowed"] is False

    req = access_requests.create_access_request(
        actor=requester, datasets=[conf.urn], purpose="training", justification="x"
    )
    access_requests.approve_access_request(actor=steward, request=req)
    answer = require_clearance([conf.urn, pub.urn], "training")
    assert answer["allowed"] and answer["principal"] == requester.username
    # A name holding a comma (Hive partitions) goes through whole (QA F22).
    hive = make_dataset("public", name="events/date=2024-01-01,region=eu")
    answer = require_clearance([hive.urn, conf.urn], "training")
    assert [d["urn"] for d in answer["datasets"]] == [hive.urn, conf.urn]

    # A pipeline account, on behalf of the human.
    bot = Token.objects.create(user=pipeline).key
    assert require_clearance(conf.urn, "training", principal=requester.username, token=bot)["allowed"]

    with pytest.raises(ClearanceError) as bad:
        require_clearance(["nonsense"], "training")
    assert bad.value.status == 400 and "nonsense" in str(bad.value)
    with pytest.raises(ClearanceError) as unauth:
        require_clearance([conf.urn], "training", token="not-a-token")
    assert unauth.value.status == 401


def test_require_clearance_needs_configuration(monkeypatch):
    monkeypatch.delenv("GOUVERNAIL_URL", raising=False)
    with pytest.raises(ClearanceError, match="GOUVERNAIL_URL"):
        require_clearance(["dataset:a:b"], "training", token="x")
    with pytest.raises(ClearanceError, match="Cannot reach"):
        require_clearance(["dataset:a:b"], "training", base_url="http://127.0.0.1:9", token="x", timeout=2)
