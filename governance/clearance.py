"""Training clearance: may this principal use these datasets for this purpose, and why (not)?

A dataset is cleared when
  * its sensitivity needs no approval (public, internal), or the principal holds a live approval
    for it and the purpose (approved, not past its expiry, not older than the policy's cap);
  * every confidential or restricted dataset upstream of it in the lineage is cleared the same way
    (data derived from a restricted source is only as available as the source);
  * its policy's conditions hold on its latest profiled version (quality suite passes, demographic
    parity difference under the cap).

The whole answer costs a fixed handful of queries whatever the number of datasets: one lineage
call for every upstream, one query for every dataset involved, one for the principal's requests,
one for the policies, and one profile summary per dataset that has a quality or bias condition.

Reads only. The lineage graph is taken as it stands: a caller that must answer on a graph holding
every event posted before the question folds pending events first (lineage's ``catch_up``, up to
CLEARANCE_LINEAGE_WAIT_SECONDS) and passes how many are still pending as ``lineage_behind``; then
nothing is cleared, and the reasons say why. ``answer_json`` serves an answer kept in
clearance_cache while nothing it rests on has changed.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.selectors import DatasetRef, datasets_by_ids, datasets_hidden_from, retired_sensitivities
from catalog.urns import candidate_splits
from governance import clearance_cache, policies
from governance.models import Purpose, RequestStatus
from governance.selectors import (
    MAX_DATASETS_PER_QUERY,
    approvals_of,
    dataset_refs_for_urns,
    grant_rows,
    policy_rows,
)
from lineage.walks import upstream_datasets

# How an answer names an upstream dataset hidden from the principal (docs/governance.md).
HIDDEN_DATASET = "a hidden dataset"
# A comma followed by the next URN's prefix; any other comma belongs to a name.
_LIST_SEPARATOR = re.compile(r",(?=\s*dataset:)")


def parse_dataset_list(raw: str | list[str] | None) -> list[str]:
    """The ``datasets`` parameter as URNs, deduplicated, order kept.

    Repeated (``datasets=A&datasets=B``): each value is one URN as given, commas and all -- names
    may hold commas (Hive partitions ``date=2024-01-01,region=eu``). Given once: a comma-separated
    list, split only at commas that start another ``dataset:`` URN, so a single URN whose name holds
    a comma stays whole.
    """
    if raw is None:
        raise ValidationError({"datasets": ["Give one or more dataset URNs, comma-separated or repeated."]})
    parts = raw if isinstance(raw, list) else [raw]
    if len(parts) > 1:
        urns = [u.strip() for u in parts if u.strip()]
    else:
        urns = [u.strip() for u in _LIST_SEPARATOR.split(parts[0]) if u.strip()]
    if not urns:
        raise ValidationError({"datasets": ["Give one or more dataset URNs, comma-separated or repeated."]})
    urns = list(dict.fromkeys(urns))
    if len(urns) > MAX_DATASETS_PER_QUERY:
        raise ValidationError(
            {
                "datasets": [
                    f"At most {MAX_DATASETS_PER_QUERY} datasets per question (got {len(urns)}); split it."
                ]
            }
        )
    return urns


def upstream_of(urns: list[str]) -> dict[str, list[str]]:
    """For each dataset URN, the URNs of every dataset upstream of it in the lineage graph."""
    return upstream_datasets(urns)


class _Grants:
    """The principal's requests for the datasets involved, classified once."""

    def __init__(
        self,
        principal,
        dataset_ids: set[int],
        purpose: str,
        policy_days: dict[int, int],
        sensitivity: dict[int, str],
    ) -> None:
        self.now = timezone.now()
        self.live: dict[int, tuple[int, Any]] = {}
        # When the first live approval stops counting (expiry, or the policy's cap on its age).
        self.valid_until = None
        self.other: dict[int, tuple[int, str, Any]] = {}
        if principal is None or not dataset_ids:
            return
        rows = grant_rows(principal_id=principal.pk, purpose=purpose, dataset_ids=dataset_ids)
        for ds_id, req_id, status, expires_at, decided_at in rows:
            days = policy_days.get(ds_id)
            too_old = (
                days is not None and decided_at is not None and decided_at + timedelta(days=days) <= self.now
            )
            if (
                status == RequestStatus.APPROVED
                and (expires_at is None or expires_at > self.now)
                and not too_old
            ):
                self.live[ds_id] = (req_id, expires_at)
                ends = [expires_at] if expires_at is not None else []
                if days is not None and decided_at is not None:
                    ends.append(decided_at + timedelta(days=days))
                if ends and (self.valid_until is None or min(ends) < self.valid_until):
                    self.valid_until = min(ends)
                continue
            if status == RequestStatus.APPROVED:
                status = "expired" if not too_old else f"older than the policy's {days}-day cap"
            self.other[ds_id] = (req_id, status, expires_at)
        if self.live:
            self._recheck(sensitivity)

    def _recheck(self, sensitivity: dict[int, str]) -> None:
        """An approval given under a lower sensitivity does not cover a dataset made stricter since
        (e.g. one steward's approval of a dataset now restricted): its requirement is checked again."""
        given: dict[int, list[tuple[int, dict]]] = {}
        for req_id, approver_id, roles in approvals_of([r for r, _ in self.live.values()]):
            given.setdefault(req_id, []).append((approver_id, roles))
        for ds_id, (req_id, expires_at) in list(self.live.items()):
            sens = sensitivity.get(ds_id, "restricted")
            pairs = [(uid, roles.get(str(ds_id), [])) for uid, roles in given.get(req_id, [])]
            if not policies.requirement_met(sens, pairs):
                del self.live[ds_id]
                self.other[ds_id] = (
                    req_id,
                    f"approved under a lower sensitivity; the dataset is now {sens} and needs "
                    f"{policies.missing_text(sens, pairs)}: ask again",
                    expires_at,
                )

    def why_not(self, ds_id: int, principal_name: str, purpose: str) -> str:
        if ds_id in self.other:
            req_id, status, _ = self.other[ds_id]
            return f"access request #{req_id} for {purpose} is {status}"
        return f"{principal_name} holds no approved access request for {purpose}"


@dataclass
class _Facts:
    """Everything an answer rests on, each read once for all the datasets asked about."""

    purpose: str
    who: str  # the principal's name in the reasons
    found: dict[str, DatasetRef]  # the datasets asked about
    upstream: dict[str, list[str]]  # their upstream URNs (lineage)
    everything: dict[str, DatasetRef]  # the datasets asked about and upstream, known to the catalog
    retired: dict[str, str]  # upstream URNs deleted from the catalog → their sensitivity then
    policy: dict[int, policies.Policy]
    conditional: dict[int, Any]  # datasets asked about whose policy has conditions (Dataset rows)
    grants: _Grants
    # Ids of hidden datasets the principal may not see (catalog.visibility): never named in an answer.
    hidden: frozenset[int] = frozenset()


def evaluate(*, principal, urns: list[str], purpose: str, lineage_behind: int = 0) -> dict[str, Any]:
    """The clearance answer, shaped as API.md's ``GET /api/v1/clearance``.

    Malformed or unknown URNs and a purpose outside the list raise ValidationError naming them.
    """
    return evaluate_until(principal=principal, urns=urns, purpose=purpose, lineage_behind=lineage_behind)[0]


def evaluate_until(
    *, principal, urns: list[str], purpose: str, lineage_behind: int = 0
) -> tuple[dict[str, Any], float | None]:
    """(the answer, when it stops holding by the clock alone: the first expiry of an approval it relies
    on, as epoch seconds, or None). Any other change invalidates it through clearance_cache.bump.

    ``lineage_behind``: lineage events posted before the question and still not folded into the
    graph (the caller's ``catch_up`` ran out of time). They might add an edge from restricted data:
    then nothing is cleared, the reasons say why, and the answer holds for no time at all."""
    _check_question(urns, purpose)
    facts = _gather(principal, urns, purpose)
    results = [_dataset_answer(urn, facts, lineage_behind) for urn in urns]
    answer = {
        "allowed": all(r["allowed"] for r in results),
        "principal": principal.get_username() if principal is not None else None,
        "purpose": purpose,
        "datasets": results,
    }
    if lineage_behind:
        return answer, time.time()  # holds no longer than now: not cached
    valid_until = facts.grants.valid_until
    return answer, valid_until.timestamp() if valid_until is not None else None


def answer_json(
    *, principal, urns: list[str], purpose: str, render: Callable[[dict], bytes], lineage_behind: int = 0
) -> bytes:
    """The clearance answer as JSON: the cached one while valid, else computed, rendered and kept.

    A fold that changed the graph has moved the cache's generation, so an answer cached before it is
    not served; while events posted before the question are still pending (``lineage_behind``), no
    cached answer is served at all."""
    body, generation = (
        clearance_cache.lookup(principal.pk, purpose, urns) if not lineage_behind else (None, None)
    )
    if body is None:
        answer, valid_until = evaluate_until(
            principal=principal, urns=urns, purpose=purpose, lineage_behind=lineage_behind
        )
        body = render(answer)
        clearance_cache.store(
            principal.pk, purpose, urns, generation=generation, body=body, valid_until=valid_until
        )
    return body


# ---------------------------------------------------------------------------------------------
# The steps of an answer


def _check_question(urns: list[str], purpose: str) -> None:
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": [f"Must be one of {', '.join(Purpose.values)}."]})
    malformed = []
    for urn in urns:
        try:
            candidate_splits(urn)
        except ValidationError:
            malformed.append(urn)
    if malformed:
        raise ValidationError(
            {
                "datasets": [
                    f"Not a dataset URN (expected dataset:<namespace>:<name>): {', '.join(malformed)}."
                ]
            }
        )


def _gather(principal, urns: list[str], purpose: str) -> _Facts:
    """Read what the answer rests on: lineage, the catalog, policies, the principal's requests."""
    # Lineage first (it answers [] for an unknown URN), so that the datasets asked about and
    # everything upstream of them are looked up in the catalog in one query.
    upstream = upstream_of(urns)
    involved = list(dict.fromkeys([*urns, *(u for us in upstream.values() for u in us)]))
    everything, _ = dataset_refs_for_urns(involved)
    hidden = frozenset(pk for pk, _ns, _name in datasets_hidden_from(principal))
    # A hidden dataset the principal may not see is unknown to them, as any other unknown URN.
    unknown = [u for u in urns if u not in everything or everything[u].pk in hidden]
    if unknown:
        raise ValidationError({"datasets": [f"Unknown dataset: {', '.join(unknown)}."]})
    found = {u: everything[u] for u in urns}
    # Upstream datasets deleted from the catalog: what they were when they left.
    gone = [u for us in upstream.values() for u in us if u not in everything]
    retired = retired_sensitivities(gone) if gone else {}
    gated_ids = {d.pk for d in everything.values() if d.sensitivity not in policies.NEEDS_NO_APPROVAL}
    asked_ids = {d.pk for d in found.values()}
    policy = {pk: policies.Policy(*row) for pk, row in policy_rows(gated_ids | asked_ids).items()}
    days = {pk: p.max_approval_days for pk, p in policy.items() if p.max_approval_days}
    conditional = [pk for pk in asked_ids if pk in policy and policy[pk].has_conditions]
    sensitivity = {d.pk: d.sensitivity for d in everything.values()}
    return _Facts(
        purpose=purpose,
        who=principal.get_username() if principal is not None else "nobody",
        found=found,
        upstream=upstream,
        everything=everything,
        retired=retired,
        policy=policy,
        conditional=datasets_by_ids(conditional) if conditional else {},
        grants=_Grants(principal, gated_ids, purpose, days, sensitivity),
        hidden=hidden,
    )


def _dataset_answer(urn: str, facts: _Facts, lineage_behind: int) -> dict[str, Any]:
    """One dataset's entry: its own standing, its upstream, the lineage backlog, its conditions."""
    ds = facts.found[urn]
    allowed, reasons, request_id = _own_standing(ds, facts)
    blockers, why = _upstream_blockers(urn, ds, facts)
    reasons += why
    if blockers:
        allowed = False
    if lineage_behind:
        allowed = False
        reasons.append(_lineage_behind_reason(lineage_behind))
    pol = facts.policy.get(ds.pk)
    if pol is not None and pol.has_conditions:
        ok, why = policies.conditions_hold(facts.conditional[ds.pk], pol)
        reasons.extend(why)
        allowed = allowed and ok
    return {
        "urn": urn,
        "allowed": allowed,
        "sensitivity": ds.sensitivity,
        "reasons": reasons,
        "access_request": request_id,
        "upstream_blockers": blockers,
    }


def _own_standing(ds: DatasetRef, facts: _Facts) -> tuple[bool, list[str], int | None]:
    """Whether the dataset itself is cleared → (allowed, reasons, the access request it rests on)."""
    grants, purpose = facts.grants, facts.purpose
    if ds.sensitivity in policies.NEEDS_NO_APPROVAL:
        return True, [f"{ds.sensitivity}: no approval needed"], None
    if ds.pk in grants.live:
        request_id, expires_at = grants.live[ds.pk]
        until = f" until {expires_at.isoformat()}" if expires_at else ""
        return (
            True,
            [f"{ds.sensitivity}: approved for {purpose} by access request #{request_id}{until}"],
            request_id,
        )
    request_id = grants.other[ds.pk][0] if ds.pk in grants.other else None
    reason = (
        f"{ds.sensitivity}: not cleared, {grants.why_not(ds.pk, facts.who, purpose)} "
        f"({policies.requirement_text(ds.sensitivity)})"
    )
    return False, [reason], request_id


def _upstream_blockers(urn: str, ds: DatasetRef, facts: _Facts) -> tuple[list[str], list[str]]:
    """The upstream datasets that keep this one from being cleared → (their URNs, reasons)."""
    blockers, reasons = [], []
    for up in facts.upstream.get(urn, []):
        src = facts.everything.get(up)
        if src is None:
            # Lineage still holds it but the catalog no longer does (deleted). It binds as it was
            # when deleted; not known, it blocks: closed, not open.
            was = facts.retired.get(up)
            if was in policies.NEEDS_NO_APPROVAL:
                continue
            blockers.append(up)
            reasons.append(
                f"derived from {up}, deleted from the catalog while {was}: it binds as it was "
                "(its last owner, a steward of it or staff may register it again)"
                if was
                else f"derived from {up}, which is not in the catalog: its sensitivity is unknown"
            )
            continue
        if src.pk == ds.pk or src.sensitivity in policies.NEEDS_NO_APPROVAL or src.pk in facts.grants.live:
            continue
        if src.pk in facts.hidden:
            # It still binds (the answer stays honest) but is not named: its existence is hidden.
            blockers.append(HIDDEN_DATASET)
            reasons.append(f"derived from {HIDDEN_DATASET}: not cleared for it")
            continue
        blockers.append(up)
        reasons.append(
            f"derived from {src.sensitivity} dataset {up}: not cleared for it, "
            f"{facts.grants.why_not(src.pk, facts.who, facts.purpose)}"
        )
    return blockers, reasons


def _lineage_behind_reason(behind: int) -> str:
    return (
        f"lineage: {behind} event{'s' if behind != 1 else ''} posted before this "
        "question are still being folded into the graph, and may add an upstream source: ask again "
        "in a few seconds"
    )
