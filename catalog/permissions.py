"""Who may change what in the catalog. Pure functions over rows; services and views both ask them.

Teams: a dataset's owner and stewards may be groups (``owner_group``, ``steward_groups``). Any member
of the owner group acts as owner, any member of a steward group as steward; ``acting_groups`` says
through which group, for the audit. This module is the one home of that rule; querysets.managed_by
is its twin for many datasets at once.
"""

from catalog.models import Dataset


def group_ids(user) -> frozenset[int]:
    """The ids of the user's groups, read once per user object (a request's user asks many times)."""
    if not (user and user.is_authenticated):
        return frozenset()
    cached = getattr(user, "_team_group_ids", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("pk", flat=True))
        user._team_group_ids = cached
    return cached


def forget_groups(user) -> None:
    """Drop the cached group ids (after the user's groups changed, e.g. at a single sign-on login)."""
    if user is not None and hasattr(user, "_team_group_ids"):
        del user._team_group_ids


def _steward_group_ids(dataset: Dataset) -> set[int]:
    cache = getattr(dataset, "_prefetched_objects_cache", {})
    if "steward_groups" in cache:
        return {g.pk for g in cache["steward_groups"]}
    return set(dataset.steward_groups.values_list("pk", flat=True))


def is_owner(user, dataset: Dataset) -> bool:
    """The dataset's owner, or a member of its owner group."""
    if not (user and user.is_authenticated):
        return False
    if dataset.owner_id == user.pk:
        return True
    return dataset.owner_group_id is not None and dataset.owner_group_id in group_ids(user)


def is_steward(user, dataset: Dataset) -> bool:
    """One of the dataset's stewards, or a member of one of its steward groups."""
    if not (user and user.is_authenticated) or dataset.pk is None:
        return False
    cache = getattr(dataset, "_prefetched_objects_cache", {})
    if "stewards" in cache:
        if any(s.pk == user.pk for s in cache["stewards"]):
            return True
    elif dataset.stewards.filter(pk=user.pk).exists():
        return True
    mine = group_ids(user)
    return bool(mine) and bool(_steward_group_ids(dataset) & mine)


def acting_groups(user, dataset: Dataset) -> dict[str, str]:
    """{role: group name} for each role (owner, steward) the user holds on the dataset only through a
    group -- the group the audit names ("acted as owner through group 'fraud-team'"). A role held in
    person is not listed: the person answers for it themselves."""
    out: dict[str, str] = {}
    if not (user and user.is_authenticated) or dataset.pk is None:
        return out
    mine = group_ids(user)
    if dataset.owner_id != user.pk and dataset.owner_group_id in mine:
        out["owner"] = dataset.owner_group.name
    cache = getattr(dataset, "_prefetched_objects_cache", {})
    personal = (
        any(s.pk == user.pk for s in cache["stewards"])
        if "stewards" in cache
        else dataset.stewards.filter(pk=user.pk).exists()
    )
    if not personal and mine:
        groups = (
            cache["steward_groups"]
            if "steward_groups" in cache
            else dataset.steward_groups.filter(pk__in=mine)
        )
        names = sorted(g.name for g in groups if g.pk in mine)
        if names:
            out["steward"] = names[0]
    return out


def can_change_dataset(user, dataset: Dataset) -> bool:
    """The owner, a steward (in person or through a group) or staff may change a dataset's metadata
    and add versions."""
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or is_owner(user, dataset) or is_steward(user, dataset)


def can_delete_dataset(user, dataset: Dataset) -> bool:
    """Only staff or the owner (a member of the owner group included) deletes a dataset, or one of its
    versions (catalog.versions.delete_version)."""
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
