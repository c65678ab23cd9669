"""Teams as owners and stewards: naming groups on a dataset, and who may name which.

A dataset's ``owner_group`` and ``steward_groups`` are named by group name in the API and the forms;
catalog.services calls these while it applies a change. Who acts through a group is
catalog.permissions' rule, not this module's.
"""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from catalog.permissions import group_ids
from config.errors import NotAllowed

TEAM_FIELDS = ("owner_group", "steward_groups")


def groups_named(field: str, names: Iterable[str]) -> list[Group]:
    """The groups with these names, in order; ValidationError on ``field`` naming the unknown ones."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValidationError({field: ["A list of group names."]})
    wanted = list(dict.fromkeys(names))
    found = {g.name: g for g in Group.objects.filter(name__in=wanted)}
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise ValidationError({field: [f"Unknown group: {', '.join(unknown)}."]})
    return [found[n] for n in wanted]


def owner_group_named(actor, name: str | None, *, current_id: int | None) -> Group | None:
    """The group to own a dataset (None: no owner group). Staff name any group; anyone else only a
    group they belong to (or the current one): making a team answerable for data takes one of its
    members, as handing a dataset to a person takes that person's consent (catalog.ownership)."""
    if name in (None, ""):
        return None
    if not isinstance(name, str):
        raise ValidationError({"owner_group": ["A group name or null."]})
    group = groups_named("owner_group", [name])[0]
    if (
        actor is not None
        and actor.is_authenticated
        and not actor.is_staff
        and group.pk != current_id
        and group.pk not in group_ids(actor)
    ):
        raise NotAllowed(
            f"You are not a member of the group '{group.name}': only its members or staff may make it "
            "a dataset's owner."
        )
    return group


def team_snapshot(dataset) -> dict:
    """The audited team fields as plain JSON values (group names)."""
    return {
        "owner_group": dataset.owner_group.name if dataset.owner_group_id else None,
        "steward_groups": sorted(dataset.steward_groups.values_list("name", flat=True)) if dataset.pk else [],
    }
