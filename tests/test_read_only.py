"""tests.read_only catches writes and lets reads through."""

import pytest
from django.contrib.auth import get_user_model

from tests import read_only
from tests.read_only import WriteInRead, no_writes, public_functions

pytestmark = pytest.mark.django_db


def test_a_read_passes():
    with no_writes() as seen:
        assert get_user_model().objects.filter(username="nobody").count() == 0
    assert any("SELECT" in s.upper() for s in seen)


@pytest.mark.parametrize("write", ["create", "update", "delete"])
def test_each_kind_of_write_fails(write, make_user):
    user = make_user("wanda")
    users = get_user_model().objects
    with pytest.raises(WriteInRead), no_writes():
        if write == "create":
            users.create_user(username="walter")
        elif write == "update":
            users.filter(pk=user.pk).update(first_name="W")
        else:
            users.filter(pk=user.pk).delete()


def test_public_functions_lists_own_public_functions():
    names = public_functions(read_only)
    assert {"no_writes", "public_functions"} <= names
    assert "_is_write" not in names
    assert "contextmanager" not in names  # imported, not defined here
