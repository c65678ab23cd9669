"""The matrix's own checks catch what they are there for: a wrong status, a refused write that changed
a row or queued work for after commit, a list that shows an object to the wrong role."""

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.exceptions import PermissionDenied

from config.rest import ApiNotFound
from tests.permissions.matrix import NO_ENDPOINT, SIGNED_IN, Expect, Row, World, check

pytestmark = pytest.mark.django_db

NOWHERE = {"anything": "no-such-endpoint/"}
REFUSED = Expect(anonymous=401, outsider=403, owner=403, steward=403, staff=403)


def test_a_wrong_status_fails(world: World):
    row = Row("GET", "/api/v1/{anything}", SIGNED_IN, kwargs=lambda w: NOWHERE)
    with pytest.raises(AssertionError, match="expected 2xx, got 404"):
        check(row, "outsider", world)


def test_a_refused_write_that_changed_a_row_fails(world: World, monkeypatch):
    def leaky(self, request, *args, **kwargs):
        Group.objects.create(name="left-behind")
        raise PermissionDenied("no")

    monkeypatch.setattr(ApiNotFound, "post", leaky)
    row = Row("POST", "/api/v1/{anything}", REFUSED, kwargs=lambda w: NOWHERE, body=lambda w: {})
    with pytest.raises(AssertionError, match="was refused but changed:\n  auth_group"):
        check(row, "outsider", world)


def test_a_refused_write_that_queued_work_fails(world: World, monkeypatch):
    def queues(self, request, *args, **kwargs):
        transaction.on_commit(lambda: None)
        raise PermissionDenied("no")

    monkeypatch.setattr(ApiNotFound, "delete", queues)
    row = Row("DELETE", "/api/v1/{anything}", REFUSED, kwargs=lambda w: NOWHERE)
    with pytest.raises(AssertionError, match="queued"):
        check(row, "steward", world)


def test_a_refused_write_that_left_a_file_fails(world: World, monkeypatch, settings):
    def stores(self, request, *args, **kwargs):
        path = world.data_root.parent / "media" / "stray.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
        raise PermissionDenied("no")

    monkeypatch.setattr(ApiNotFound, "put", stores)
    row = Row("PUT", "/api/v1/{anything}", REFUSED, kwargs=lambda w: NOWHERE, body=lambda w: {})
    with pytest.raises(AssertionError, match="stray.csv"):
        check(row, "owner", world)


def test_a_list_that_shows_the_object_to_the_wrong_role_fails(world: World):
    row = Row(
        "GET",
        "/api/v1/datasets/",
        SIGNED_IN,
        finds=lambda w: {"id": w.dataset["id"], "urn": w.urn},
        seen_by=frozenset({"owner"}),
    )
    check(row, "owner", world)
    with pytest.raises(AssertionError, match="is listed"):
        check(row, "outsider", world)


def test_a_refusal_that_changes_nothing_passes(world: World):
    check(
        Row("PATCH", "/api/v1/{anything}", NO_ENDPOINT, kwargs=lambda w: NOWHERE, body=lambda w: {}),
        "staff",
        world,
    )
