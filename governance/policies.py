"""Every rule of governance, in one place. Reads only: nothing here writes.

* What each sensitivity requires, and whether a set of approvals meets it: public and internal need
  no approval; confidential needs one approval by the owner or a steward; restricted (and anything
  unknown) needs two approvals by two different people, the owner and a steward.
* Who may decide an access request (an owner or steward of every dataset it names, never its
  requester), revoke it or withdraw it, and when a request could never be decided at all. A member
  of a dataset's owner group acts as owner, of a steward group as steward (catalog.permissions); the
  roles may come through groups, the two approvals of restricted data are still two people.
* A dataset's DatasetPolicy: which changes relax it, and whether its conditions (a passing quality
  suite, a cap on demographic parity difference) hold on the latest profiled version.

The services (access_requests.py, dataset_policies.py) enforce these rules and the pages ask them to
hide controls that would be refused: neither words nor numbers of a rule are written anywhere else.
"""

from collections.abc import Iterable
from typing import Any, NamedTuple

from catalog.permissions import acting_groups, can_change_dataset, is_owner, is_steward
from catalog.selectors import answerable_people, datasets_by_ids
from governance.models import AccessRequest, RequestStatus
from profiling.selectors import latest_profile_summary

OWNER = "owner"
STEWARD = "steward"

NEEDS_NO_APPROVAL = frozenset({"public", "internal"})
NEEDS_APPROVAL = frozenset({"confidential", "restricted"})


# ---------------------------------------------------------------------------------------------
# What each sensitivity requires


class Requirement(NamedTuple):
    """How many approvals a sensitivity needs (by different people), and the rule in words."""

    approvals: int
    text: str


REQUIREMENTS = {
    "public": Requirement(0, "no approval needed"),
    "internal": Requirement(0, "no approval needed"),
    "confidential": Requirement(1, "needs one approval by the owner or a steward"),
    "restricted": Requirement(2, "needs two approvals by two different people, the owner and a steward"),
}


def requirement(sensitivity: str) -> Requirement:
    """The sensitivity's requirement; an unknown sensitivity is treated as restricted."""
    return REQUIREMENTS.get(sensitivity, REQUIREMENTS["restricted"])


def requirement_text(sensitivity: str) -> str:
    if sensitivity not in REQUIREMENTS:
        return f"{sensitivity}: unknown sensitivity, treated as restricted"
    return f"{sensitivity}: {REQUIREMENTS[sensitivity].text}"


def roles_of(
    user_id: int, *, owner_id: int | None, steward_ids: Iterable[int], owner_ids: Iterable[int] = ()
) -> list[str]:
    """The roles ``user_id`` holds: owner (``owner_id``, or one of ``owner_ids``: the owner group's
    members), steward (one of ``steward_ids``, stewards in person and the steward groups' members)."""
    roles = []
    if user_id in {owner_id, *owner_ids} - {None}:
        roles.append(OWNER)
    if user_id in set(steward_ids):
        roles.append(STEWARD)
    return roles


def requirement_met(sensitivity: str, approvals: list[tuple[int, list[str]]]) -> bool:
    """Do these (approver id, roles held on the dataset) approvals satisfy the dataset's sensitivity?"""
    needed = requirement(sensitivity).approvals
    if needed == 0:
        return True
    eligible = [(uid, set(roles)) for uid, roles in approvals if roles]
    if needed == 1:
        return bool(eligible)
    # Two: an owner and a steward, two different people.
    owners = {uid for uid, roles in eligible if OWNER in roles}
    stewards = {uid for uid, roles in eligible if STEWARD in roles}
    return any(o != s for o in owners for s in stewards)


def missing_text(sensitivity: str, approvals: list[tuple[int, list[str]]]) -> str:
    """What is still missing, in words, for a request that does not meet the requirement yet."""
    eligible = [(uid, set(roles)) for uid, roles in approvals if roles]
    if requirement(sensitivity).approvals == 1:
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


# ---------------------------------------------------------------------------------------------
# Who may decide, revoke or withdraw an access request


class Deciding(NamedTuple):
    """A user's standing on a request: the roles they hold on each dataset, or why they may not decide."""

    roles: dict[str, list[str]]  # {dataset id as text: roles held on it}
    refusal: str  # empty when the user may decide
    # {dataset id as text: {role: group name}}: the roles held only through a group (for the audit).
    through: dict[str, dict[str, str]] | None = None


def decider(user, *, requester_id: int, datasets: Iterable) -> Deciding:
    """May ``user`` decide a request of ``requester_id`` naming ``datasets`` (with their stewards and
    steward groups prefetched, for lists)?

    A decider holds a role (owner or steward, in person or through a group) on every dataset named,
    and nobody decides their own request, whatever group they act through; a request that names no
    dataset any more (all deleted) has nobody to decide it.
    """
    if user is None or not user.is_authenticated:
        return Deciding({}, "Sign in to decide access requests.")
    if user.pk == requester_id:
        return Deciding({}, "Nobody decides their own access request.")
    roles: dict[str, list[str]] = {}
    through: dict[str, dict[str, str]] = {}
    missing = []
    for ds in datasets:
        held = [role for role, has in ((OWNER, is_owner(user, ds)), (STEWARD, is_steward(user, ds))) if has]
        if not held:
            missing.append(ds.urn)
        elif via := acting_groups(user, ds):
            through[str(ds.pk)] = via
        roles[str(ds.pk)] = held
    if missing:
        return Deciding(
            roles,
            "Only an owner or steward of every dataset concerned may decide this request; "
            f"you are neither for {', '.join(missing)}.",
        )
    if not roles:
        return Deciding(roles, "This request names no dataset left in the catalog: nobody may decide it.")
    return Deciding(roles, "", through)


def may_decide(user, request: AccessRequest) -> bool:
    """Whether ``user`` may approve or reject ``request`` now: it is pending and they are a decider."""
    if request.status != RequestStatus.PENDING:
        return False
    return not decider(user, requester_id=request.requester_id, datasets=request.datasets.all()).refusal


def can_revoke(user, request: AccessRequest) -> bool:
    """The requester (giving access up), staff, or an owner or steward of any dataset concerned."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or user.pk == request.requester_id:
        return True
    return any(can_change_dataset(user, ds) for ds in request.datasets.all())


def can_withdraw(user, request: AccessRequest) -> bool:
    """Only the requester takes back their own request."""
    return user is not None and user.is_authenticated and user.pk == request.requester_id


def why_undecidable(requester, datasets: list) -> str:
    """Why nobody could ever decide a request of ``requester`` for ``datasets`` ("" when someone can).

    A decider must hold a role on every dataset of the request, and nobody decides their own; so
    when no one but the requester is an owner or steward of all of them -- or a restricted one's
    owner and a steward are not both among those people -- the request would stay pending forever.
    Staff do not decide requests (approvals come from the people answerable for the data), so the
    way out is one request per owner.
    """
    full = list(datasets_by_ids(d.pk for d in datasets).values())
    people = answerable_people(full)  # {id: (owner ids, steward ids)}, members of their groups included
    common: set[int] | None = None
    for owners, stewards in people.values():
        holders = stewards | owners
        common = holders if common is None else common & holders
    common = (common or set()) - {getattr(requester, "pk", None)}
    blocked = [
        ds.urn
        for ds in full
        if not common
        or not requirement_met(
            ds.sensitivity,
            [
                (uid, roles_of(uid, owner_id=None, owner_ids=people[ds.pk][0], steward_ids=people[ds.pk][1]))
                for uid in common
            ],
        )
    ]
    if not blocked:
        return ""
    by_owner: dict[str, list[str]] = {}
    for ds in sorted(full, key=lambda d: d.urn):
        by_owner.setdefault(ds.owner.get_username() if ds.owner_id else "(no owner)", []).append(ds.urn)
    groups = "; ".join(f"{who}: {', '.join(urns)}" for who, urns in sorted(by_owner.items()))
    if not common:
        why = "nobody but you is an owner or steward of every dataset in it"
    else:
        why = (
            f"{', '.join(blocked)} need approvals by their owner and a steward, two people other than you "
            "who also hold a role on every other dataset of the request"
        )
    return (
        f"Nobody could decide this request: {why}. Split the request by owner ({groups}); "
        "a restricted dataset is best requested on its own."
    )


# ---------------------------------------------------------------------------------------------
# A dataset's policy: relaxing it, and its conditions


class Policy(NamedTuple):
    """A dataset's DatasetPolicy as clearance reads it (a row of selectors.policy_rows)."""

    require_quality_pass: bool
    max_parity_difference: float | None
    max_approval_days: int | None

    @property
    def has_conditions(self) -> bool:
        return self.require_quality_pass or self.max_parity_difference is not None


def relaxed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The conditions a policy change loosens: a check dropped, a cap raised or removed. Only the
    owner or staff may relax a policy; a steward alone must not undo the owner's conditions."""
    out = []
    if before["require_quality_pass"] and not after["require_quality_pass"]:
        out.append("require_quality_pass")
    for cap in ("max_parity_difference", "max_approval_days"):
        if before[cap] is not None and (after[cap] is None or after[cap] > before[cap]):
            out.append(cap)
    return out


def conditions_hold(dataset, policy: Policy) -> tuple[bool, list[str]]:
    """The policy's quality and bias conditions on the latest profiled version → (they hold, reasons)."""
    summary = latest_profile_summary(dataset)
    label = f"version {summary['version']}" if summary else "no profiled version"
    ok, reasons = True, []
    if policy.require_quality_pass:
        passed, reason = _quality_condition(summary, label)
        ok, reasons = ok and passed, [*reasons, reason]
    if policy.max_parity_difference is not None:
        passed, reason = _bias_condition(summary, label, policy.max_parity_difference)
        ok, reasons = ok and passed, [*reasons, reason]
    return ok, reasons


def _quality_condition(summary: dict | None, label: str) -> tuple[bool, str]:
    quality = (summary or {}).get("quality")
    if not quality:
        return False, f"policy requires a passing quality suite: {label} has no quality result"
    if not quality.get("success"):
        return (
            False,
            f"policy requires a passing quality suite: {label} failed it (score {quality.get('score')})",
        )
    return True, f"quality suite passed on {label}"


def _bias_condition(summary: dict | None, label: str, cap: float) -> tuple[bool, str]:
    bias = (summary or {}).get("bias")
    if not bias:
        return False, (
            f"policy caps demographic parity difference at {cap}: {label} has no bias figures "
            "(name sensitive columns and a label column)"
        )
    over = {
        attr: figs.get("demographic_parity_difference")
        for attr, figs in bias.items()
        if figs.get("demographic_parity_difference") is None or figs["demographic_parity_difference"] > cap
    }
    if over:
        detail = ", ".join(f"{a}: {v if v is None else round(v, 4)}" for a, v in over.items())
        return False, f"demographic parity difference over the policy's cap of {cap} on {label} ({detail})"
    return True, f"demographic parity difference within {cap} on {label}"
