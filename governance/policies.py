"""What each sensitivity requires, and whether a set of approvals meets it. Pure functions, no writes.

Defaults (issue 5): public and internal need no approval; confidential needs one approval by the
owner or a steward; restricted needs two approvals by two different people, the owner and a steward.
A dataset's DatasetPolicy tightens these further (quality, bias, approval lifetime).
"""

from collections.abc import Iterable
from dataclasses import dataclass

OWNER = "owner"
STEWARD = "steward"

NEEDS_NO_APPROVAL = frozenset({"public", "internal"})
NEEDS_APPROVAL = frozenset({"confidential", "restricted"})


@dataclass(frozen=True)
class Requirement:
    sensitivity: str
    text: str


def requirement_text(sensitivity: str) -> str:
    return {
        "public": "public: no approval needed",
        "internal": "internal: no approval needed",
        "confidential": "confidential: needs one approval by the owner or a steward",
        "restricted": "restricted: needs two approvals by two different people, the owner and a steward",
    }.get(sensitivity, f"{sensitivity}: unknown sensitivity, treated as restricted")


def roles_of(user_id: int, *, owner_id: int | None, steward_ids: Iterable[int]) -> list[str]:
    roles = []
    if owner_id is not None and owner_id == user_id:
        roles.append(OWNER)
    if user_id in set(steward_ids):
        roles.append(STEWARD)
    return roles


def requirement_met(sensitivity: str, approvals: list[tuple[int, list[str]]]) -> bool:
    """Do these (approver id, roles held on the dataset) approvals satisfy the dataset's sensitivity?"""
    eligible = [(uid, set(roles)) for uid, roles in approvals if roles]
    if sensitivity in NEEDS_NO_APPROVAL:
        return True
    if sensitivity == "confidential":
        return bool(eligible)
    # restricted (and anything unknown): an owner and a steward, two different people.
    owners = {uid for uid, roles in eligible if OWNER in roles}
    stewards = {uid for uid, roles in eligible if STEWARD in roles}
    return any(o != s for o in owners for s in stewards)


def missing_text(sensitivity: str, approvals: list[tuple[int, list[str]]]) -> str:
    """What is still missing, in words, for a request that does not meet the requirement yet."""
    eligible = [(uid, set(roles)) for uid, roles in approvals if roles]
    if sensitivity == "confidential":
        return "an approval by the owner or a steward"
    has_owner = any(OWNER in roles for _, roles in eligible)
    has_steward = any(STEWARD in roles for _, roles in eligible)
    if has_owner and not has_steward:
        return "an approval by a steward (the owner has approved)"
    if has_steward and not has_owner:
        return "an approval by the owner (a steward has approved)"
    if has_owner and has_steward:
        return "a second approver: the owner and a steward must be two different people"
    return "approvals by the owner and by a steward"
