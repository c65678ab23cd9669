"""The audit page shows an access request's records to those who may see the request, and no one else."""

import pytest
from django.urls import reverse

from governance import access_requests

pytestmark = pytest.mark.django_db


def test_audit_page_follows_who_may_see_a_request(client, requester, steward, outsider, make_dataset):
    confidential = make_dataset("confidential", name="hr/salaries")
    access = access_requests.create_access_request(
        actor=requester, datasets=[confidential.urn], purpose="training", justification="churn model"
    )
    url = reverse("governance:audit")
    ref = {"object": f"access_request:{access.pk}"}
    for user, sees in ((requester, True), (steward, True), (outsider, False)):
        client.force_login(user)
        html = client.get(url, ref).content.decode()
        assert ("<code>access_request.created</code>" in html) is sees, user
        assert ("No record for" in html) is not sees, user
