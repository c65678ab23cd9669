"""Who may make someone the owner of a dataset, and who may bring a deleted dataset's name back.

* A deleted dataset's namespace + name belongs to its last owner and stewards: anyone else who
  registers it again is refused (409), staff excepted; lineage naming it again brings it back owned
  as it was.
* Naming another user as owner (at registration or by handing a dataset over) is an offer that the
  named user accepts or declines; staff hand datasets over at once.
"""

import pytest
from django.core import mail
from django.test import Client

from catalog import ownership, services
from catalog.models import Dataset
from config.errors import Conflict, NotAllowed

pytestmark = pytest.mark.django_db

URL = "/api/v1/datasets/"


@pytest.fixture
def retired(owner, steward):
    """A restricted dataset of the owner's, with a steward, deleted."""
    ds = services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="hr/salaries",
        sensitivity="restricted",
        stewards=[steward.username],
    )
    services.delete_dataset(actor=owner, dataset=ds)
    return ("s3://lake", "hr/salaries")


# ---------------------------------------------------------------------------------------------
# A deleted dataset's name


def test_a_stranger_may_not_register_a_deleted_datasets_name(retired, outsider, api_client_for):
    r = api_client_for(outsider).post(URL, {"namespace": retired[0], "name": retired[1]}, format="json")
    assert r.status_code == 409, r.content
    body = r.json()
    assert "was deleted" in body["detail"] and "last owner" in body["detail"] and "staff" in body["detail"]
    assert "name" in body["errors"]
    assert not Dataset.objects.filter(namespace=retired[0], name=retired[1]).exists()


def test_a_stranger_is_refused_on_the_web_form_too(retired, outsider):
    web = Client()
    web.force_login(outsider)
    r = web.post("/datasets/new/", {"namespace": retired[0], "name": retired[1], "sensitivity": "restricted"})
    assert r.status_code == 400 and "was deleted" in r.content.decode()
    assert not Dataset.objects.filter(namespace=retired[0], name=retired[1]).exists()


@pytest.mark.parametrize("who", ["owner", "steward", "staff"])
def test_its_last_owner_a_steward_or_staff_bring_it_back(retired, who, request, api_client_for):
    user = request.getfixturevalue(who)
    r = api_client_for(user).post(URL, {"namespace": retired[0], "name": retired[1]}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["owner"] == user.username and r.json()["sensitivity"] == "restricted"


def test_a_steward_may_not_bring_it_back_less_sensitive(retired, steward, api_client_for):
    r = api_client_for(steward).post(
        URL, {"namespace": retired[0], "name": retired[1], "sensitivity": "public"}, format="json"
    )
    assert r.status_code == 403 and "was restricted when it was deleted" in r.json()["detail"]


def test_lineage_brings_it_back_owned_as_it_was(retired, owner, steward):
    """Lineage never drops a dataset it names; the name comes back as it left (owner, stewards,
    sensitivity), so that no ownership facet hands it to whoever posts the event."""
    back = services.ensure_datasets([retired, ("s3://lake", "brand/new")])
    ds = back[retired]
    assert ds.owner == owner and list(ds.stewards.all()) == [steward] and ds.sensitivity == "restricted"
    assert back[("s3://lake", "brand/new")].owner is None
    services.delete_dataset(actor=owner, dataset=ds)
    one, created = services.ensure_dataset(namespace=retired[0], name=retired[1])
    assert created and one.owner == owner and list(one.stewards.all()) == [steward]


# ---------------------------------------------------------------------------------------------
# Naming another owner: an offer


def test_naming_another_owner_at_registration_is_an_offer(owner, outsider, api_client_for):
    r = api_client_for(owner).post(
        URL, {"namespace": "s3://lake", "name": "for/oscar", "owner": outsider.username}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["owner"] == owner.username and body["pending_owner"] == outsider.username
    listed = api_client_for(outsider).get(URL, {"pending_owner": outsider.username}).json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]
    assert listed["results"][0]["pending_owner"] == outsider.username

    accepted = api_client_for(outsider).post(f"{URL}{body['id']}/ownership/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["owner"] == outsider.username and accepted.json()["pending_owner"] is None
    # The former owner no longer has the owner's rights.
    assert api_client_for(owner).delete(f"{URL}{body['id']}/").status_code == 403


def test_naming_yourself_or_being_staff_hands_it_at_once(owner, staff, outsider, api_client_for):
    r = api_client_for(owner).post(
        URL, {"namespace": "s3://lake", "name": "mine", "owner": owner.username}, format="json"
    )
    assert r.json()["owner"] == owner.username and r.json()["pending_owner"] is None
    r = api_client_for(staff).post(
        URL, {"namespace": "s3://lake", "name": "theirs", "owner": outsider.username}, format="json"
    )
    assert r.json()["owner"] == outsider.username and r.json()["pending_owner"] is None


def test_handing_a_dataset_over_is_an_offer_the_named_user_answers(
    owner, steward, outsider, staff, api_client_for
):
    ds = services.create_dataset(actor=owner, namespace="s3://lake", name="handover")
    url = f"{URL}{ds.pk}/"
    r = api_client_for(owner).patch(url, {"owner": outsider.username}, format="json")
    assert r.status_code == 200 and r.json()["owner"] == owner.username
    assert r.json()["pending_owner"] == outsider.username
    # Nobody but the named user accepts; the owner keeps every right meanwhile.
    for user in (owner, steward, staff):
        assert api_client_for(user).post(f"{url}ownership/accept/", {}, format="json").status_code == 403
    assert api_client_for(owner).patch(url, {"title": "still mine"}, format="json").status_code == 200
    # The named user declines: nothing changes hands.
    declined = api_client_for(outsider).post(f"{url}ownership/decline/", {}, format="json")
    assert declined.status_code == 200 and declined.json()["pending_owner"] is None
    assert declined.json()["owner"] == owner.username
    assert api_client_for(outsider).post(f"{url}ownership/accept/", {}, format="json").status_code == 409
    # Offered again, then withdrawn by the owner; a steward may do neither.
    api_client_for(owner).patch(url, {"owner": outsider.username}, format="json")
    assert api_client_for(steward).post(f"{url}ownership/decline/", {}, format="json").status_code == 403
    assert api_client_for(owner).post(f"{url}ownership/decline/", {}, format="json").status_code == 200
    # Staff hand it over at once.
    r = api_client_for(staff).patch(url, {"owner": outsider.username}, format="json")
    assert r.json()["owner"] == outsider.username and r.json()["pending_owner"] is None


def test_the_offer_is_told_to_the_named_user_and_audited(owner, outsider, django_capture_on_commit_callbacks):
    from governance.models import AuditRecord

    with django_capture_on_commit_callbacks(execute=True):
        ds = services.create_dataset(actor=owner, namespace="s3://lake", name="told", owner=outsider.username)
    assert ds.owner == owner and ds.pending_owner == outsider
    assert any(outsider.email in m.to and ds.urn in m.body for m in mail.outbox)
    created = AuditRecord.objects.get(action="dataset.created", object_id=str(ds.pk))
    assert created.after["owner"] == owner.username and created.after["pending_owner"] == outsider.username
    with django_capture_on_commit_callbacks(execute=True):
        ownership.accept_ownership(actor=outsider, dataset=ds)
    changed = AuditRecord.objects.get(action="dataset.changed", object_id=str(ds.pk))
    assert changed.before == {"owner": owner.username, "pending_owner": outsider.username}
    assert changed.after == {"owner": outsider.username, "pending_owner": None}


def test_the_services_refuse_clearly(owner, outsider, steward):
    ds = services.create_dataset(actor=owner, namespace="s3://lake", name="plain")
    with pytest.raises(Conflict, match="not been offered"):
        ownership.accept_ownership(actor=outsider, dataset=ds)
    services.update_dataset(actor=owner, dataset=ds, owner=outsider.username)
    with pytest.raises(NotAllowed, match=outsider.username):
        ownership.accept_ownership(actor=steward, dataset=ds)


def test_the_web_form_makes_the_signed_in_user_the_owner(outsider, owner):
    web = Client()
    web.force_login(outsider)
    r = web.post(
        "/datasets/new/",
        {"namespace": "s3://lake", "name": "web", "sensitivity": "internal", "owner": owner.username},
    )
    assert r.status_code == 302
    ds = Dataset.objects.get(namespace="s3://lake", name="web")
    assert ds.owner == outsider and ds.pending_owner is None


def test_the_web_page_lets_the_named_user_answer(owner, outsider):
    ds = services.create_dataset(actor=owner, namespace="s3://lake", name="page", owner=outsider.username)
    offering = Client()
    offering.force_login(owner)
    assert offering.post(f"/datasets/{ds.pk}/ownership/", {"answer": "accept"}).status_code == 403
    web = Client()
    web.force_login(outsider)
    page = web.get(f"/datasets/{ds.pk}/").content.decode()
    assert "offered" in page and f"/datasets/{ds.pk}/ownership/" in page
    r = web.post(f"/datasets/{ds.pk}/ownership/", {"answer": "accept"})
    assert r.status_code == 302
    ds.refresh_from_db()
    assert ds.owner == outsider and ds.pending_owner is None
