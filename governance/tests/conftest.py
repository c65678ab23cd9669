"""Governance test fixtures: a requester, a second steward, a pipeline account, datasets by sensitivity."""

import pytest
from django.contrib.auth.models import Permission

from catalog import services as catalog_services


@pytest.fixture
def requester(make_user):
    return make_user("rita_requester", email="rita@example.org")


@pytest.fixture
def steward2(make_user):
    return make_user("stan_steward", email="stan@example.org")


@pytest.fixture
def pipeline(make_user):
    """A pipeline's service account: allowed to ask clearance on behalf of the human it runs for."""
    user = make_user("pipeline_bot")
    user.user_permissions.add(Permission.objects.get(codename="check_clearance_for_others"))
    return user


@pytest.fixture
def make_dataset(owner, steward, steward2):
    counter = {"n": 0}

    def make(sensitivity: str = "confidential", *, name: str | None = None, stewards=None, **extra):
        counter["n"] += 1
        return catalog_services.create_dataset(
            actor=owner,
            namespace="s3://lake",
            name=name or f"warehouse/{sensitivity}_{counter['n']}",
            sensitivity=sensitivity,
            stewards=[u.username for u in (stewards if stewards is not None else [steward, steward2])],
            **extra,
        )

    return make
