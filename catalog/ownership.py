"""Offers of a dataset's ownership: a user becomes an owner only by accepting.

When a user other than staff names someone else as a dataset's owner (registering it for them, or
handing their own dataset over), catalog.services records an offer (``Dataset.pending_owner``)
instead: the owner stays who they were, with every right, until the named user accepts here. The
named user may decline, and the owner (or staff) may withdraw the offer. Staff hand datasets over at
once. Each answer is announced as a change of the dataset (``dataset_changed``: audited by governance).
"""

from django.db import transaction

from catalog import signals
from catalog.models import Dataset
from catalog.permissions import is_owner
from catalog.search_index import index_dataset
from catalog.services import _diff, _snapshot
from config.errors import Conflict, NotAllowed


def _locked_offer(dataset: Dataset) -> Dataset:
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if locked.pending_owner_id is None:
        raise Conflict(
            f"{locked.urn} has not been offered to anyone: there is nothing to accept or decline.",
            {"pending_owner": ["no open offer"]},
        )
    return locked


def _announce(dataset: Dataset, before: dict, *, actor, via: str) -> None:
    changes = _diff(before, _snapshot(dataset))
    transaction.on_commit(
        lambda: signals.dataset_changed.send(
            sender=Dataset, dataset=dataset, actor=actor, changes=changes, via=via
        )
    )


@transaction.atomic
def accept_ownership(*, actor, dataset: Dataset, via: str = "api") -> Dataset:
    """The user the dataset was offered to becomes its owner; nobody else may accept for them."""
    dataset = _locked_offer(dataset)
    if actor is None or actor.pk != dataset.pending_owner_id:
        raise NotAllowed(
            f"Only {dataset.pending_owner.get_username()}, to whom {dataset.urn} was offered, may accept it."
        )
    before = _snapshot(dataset)
    dataset.owner, dataset.pending_owner = actor, None
    dataset.save(update_fields=["owner", "pending_owner", "updated_at"])
    index_dataset(dataset)
    _announce(dataset, before, actor=actor, via=via)
    return dataset


@transaction.atomic
def decline_ownership(*, actor, dataset: Dataset, via: str = "api") -> Dataset:
    """The offer ends without a change of owner: declined by the user offered, or withdrawn by the
    owner or staff."""
    dataset = _locked_offer(dataset)
    if actor is None or not (
        actor.pk == dataset.pending_owner_id or actor.is_staff or is_owner(actor, dataset)
    ):
        raise NotAllowed(
            "Only the user the dataset was offered to, its owner or staff may decline or withdraw the offer."
        )
    before = _snapshot(dataset)
    dataset.pending_owner = None
    dataset.save(update_fields=["pending_owner", "updated_at"])
    _announce(dataset, before, actor=actor, via=via)
    return dataset
