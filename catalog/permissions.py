"""Who may change what in the catalog. Pure functions over rows; services and views both ask them."""

from catalog.models import Dataset


def is_owner(user, dataset: Dataset) -> bool:
    return bool(user and user.is_authenticated and dataset.owner_id == user.pk)


def is_steward(user, dataset: Dataset) -> bool:
    if not (user and user.is_authenticated) or dataset.pk is None:
        return False
    return dataset.stewards.filter(pk=user.pk).exists()


def can_change_dataset(user, dataset: Dataset) -> bool:
    """The owner, a steward or staff may change a dataset's metadata and add versions."""
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or is_owner(user, dataset) or is_steward(user, dataset)


def can_delete_dataset(user, dataset: Dataset) -> bool:
    """Only staff or the owner deletes a dataset, or one of its versions (catalog.versions.delete_version)."""
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or is_owner(user, dataset)


def can_add_source(user) -> bool:
    """Staff, or users given the permission to add sources (catalog.add_source)."""
    return bool(user and user.is_authenticated and (user.is_staff or user.has_perm("catalog.add_source")))


def can_manage_source(user, source) -> bool:
    """Staff, the source's owner or one of its stewards may edit it, test it and scan it."""
    if not (user and user.is_authenticated):
        return False
    if user.is_staff or source.owner_id == user.pk:
        return True
    return source.pk is not None and source.stewards.filter(pk=user.pk).exists()


def can_delete_source(user, source) -> bool:
    """Staff or the source's owner (its datasets stay, with their history)."""
    return bool(user and user.is_authenticated and (user.is_staff or source.owner_id == user.pk))
