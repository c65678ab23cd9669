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
"""

import re
import time
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.urns import candidate_splits
from governance import policies
from governance.models import Purpose, RequestStatus
from governance.selectors import (
    MAX_DATASETS_PER_QUERY,
    approvals_of,
    dataset_refs_for_urns,
    grant_rows,
    policy_rows,
)


class Policy(NamedTuple):
    require_quality_pass: bool
    max_parity_difference: float | None
    max_approval_days: int | None

    @property
    def has_conditions(self) -> bool:
        return self.require_quality_pass or self.max_parity_difference is not None


def _retired_sensitivities(urns: list[str]) -> dict[str, str]:
    from catalog.selectors import retired_sensitivities

    return retired_sensitivities(urns)


def _datasets_by_ids(ids: list[int]) -> dict:
    from catalog.selectors import datasets_by_ids

    return datasets_by_ids(ids)


# A comma followed by the next URN's prefix; any other comma belongs to a name.
_LIST_SEPARATOR = re.compile(r",(?=\s*dataset:)")


def parse_dataset_list(raw: str | list[str] | None) -> list[str]:
    """The ``datasets`` parameter as URNs, deduplicated, order kept.

    Repeated (``datasets=A&datasets=B``): each value is one URN as given, commas and all -- names
    may hold commas (Hive partitions ``date=2024-01-01,region=eu``, QA F22). Given once: a
    comma-separated list, split only at commas that start another ``dataset:`` URN, so a single
    URN whose name holds a comma stays whole.
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
    """Lineage's answer; without the lineage app installed, nothing is upstream of anything."""
    try:
        from lineage.selectors import upstream_datasets
    except ImportError:
        return {u: [] for u in urns}
    return upstream_datasets(urns)


def lineage_current() -> int:
    """Fold lineage events still pending (deferred ingestion) for up to CLEARANCE_LINEAGE_WAIT_SECONDS
    → how many events posted before this call are still not in the graph (0: it is current)."""
    try:
        from lineage.services import catch_up
    except ImportError:
        return 0
    return catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)


def latest_profile_summary(dataset) -> dict | None:
    try:
        from profiling.selectors import latest_profile_summary as summary
    except ImportError:
        return None
    return summary(dataset)


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


def evaluate(*, principal, urns: list[str], purpose: str) -> dict[str, Any]:
    """The clearance answer, shaped as API.md's ``GET /api/v1/clearance``.

    Malformed or unknown URNs and a purpose outside the list raise ValidationError naming them.
    """
    return evaluate_until(principal=principal, urns=urns, purpose=purpose)[0]


def evaluate_until(
    *, principal, urns: list[str], purpose: str, lineage_behind: int | None = None
) -> tuple[dict[str, Any], float | None]:
    """(the answer, when it stops holding by the clock alone: the first expiry of an approval it relies
    on, as epoch seconds, or None). Any other change invalidates it through clearance_cache.bump.

    Lineage events posted before the question and not yet folded into the graph after
    CLEARANCE_LINEAGE_WAIT_SECONDS (``lineage_behind``, counted here when not given) might add an
    edge from restricted data: then nothing is cleared, the reasons say why, and the answer holds
    for no time at all (it is not cached)."""
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
    if lineage_behind is None:
        lineage_behind = lineage_current()
    # Lineage first (it answers [] for an unknown URN), so that the datasets asked about and
    # everything upstream of them are looked up in the catalog in one query.
    upstream = upstream_of(urns)
    involved = list(dict.fromkeys([*urns, *(u for us in upstream.values() for u in us)]))
    everything, _ = dataset_refs_for_urns(involved)
    unknown = [u for u in urns if u not in everything]
    if unknown:
        raise ValidationError({"datasets": [f"Unknown dataset: {', '.join(unknown)}."]})
    found = {u: everything[u] for u in urns}
    # Upstream datasets deleted from the catalog: what they were when they left (QA G12, G18).
    gone = [u for us in upstream.values() for u in us if u not in everything]
    retired = _retired_sensitivities(gone) if gone else {}
    gated_ids = {d.pk for d in everything.values() if d.sensitivity not in policies.NEEDS_NO_APPROVAL}
    asked_ids = {d.pk for d in found.values()}
    policy = {pk: Policy(*row) for pk, row in policy_rows(gated_ids | asked_ids).items()}
    days = {pk: p.max_approval_days for pk, p in policy.items() if p.max_approval_days}
    conditional = [pk for pk in asked_ids if pk in policy and policy[pk].has_conditions]
    models = _datasets_by_ids(conditional) if conditional else {}
    sensitivity = {d.pk: d.sensitivity for d in everything.values()}
    grants = _Grants(principal, gated_ids, purpose, days, sensitivity)
    who = principal.get_username() if principal is not None else "nobody"

    results = []
    for urn in urns:
        ds = found[urn]
        reasons: list[str] = []
        allowed = True
        request_id = None
        if ds.sensitivity in policies.NEEDS_NO_APPROVAL:
            reasons.append(f"{ds.sensitivity}: no approval needed")
        elif ds.pk in grants.live:
            request_id, expires_at = grants.live[ds.pk]
            until = f" until {expires_at.isoformat()}" if expires_at else ""
            reasons.append(f"{ds.sensitivity}: approved for {purpose} by access request #{request_id}{until}")
        else:
            allowed = False
            if ds.pk in grants.other:
                request_id = grants.other[ds.pk][0]
            reasons.append(
                f"{ds.sensitivity}: not cleared, {grants.why_not(ds.pk, who, purpose)} "
                f"({policies.requirement_text(ds.sensitivity)})"
            )

        blockers = []
        for up in upstream.get(urn, []):
            src = everything.get(up)
            if src is None:
                # Lineage still holds it but the catalog no longer does (deleted). It binds as it was
                # when deleted; not known, it blocks: closed, not open (QA G12).
                was = retired.get(up)
                if was in policies.NEEDS_NO_APPROVAL:
                    continue
                blockers.append(up)
                reasons.append(
                    f"derived from {up}, deleted from the catalog while {was}: it binds as it was "
                    "(staff or its last owner may register it again)"
                    if was
                    else f"derived from {up}, which is not in the catalog: its sensitivity is unknown"
                )
                continue
            if src.pk == ds.pk or src.sensitivity in policies.NEEDS_NO_APPROVAL:
                continue
            if src.pk in grants.live:
                continue
            blockers.append(up)
            reasons.append(
                f"derived from {src.sensitivity} dataset {up}: not cleared for it, "
                f"{grants.why_not(src.pk, who, purpose)}"
            )
        if blockers:
            allowed = False
        if lineage_behind:
            allowed = False
            reasons.append(
                f"lineage: {lineage_behind} event{'s' if lineage_behind != 1 else ''} posted before this "
                "question are still being folded into the graph, and may add an upstream source: ask again "
                "in a few seconds"
            )

        pol = policy.get(ds.pk)
        if pol is not None and pol.has_conditions:
            ok, why = _conditions(models[ds.pk], pol)
            reasons.extend(why)
            allowed = allowed and ok

        results.append(
            {
                "urn": urn,
                "allowed": allowed,
                "sensitivity": ds.sensitivity,
                "reasons": reasons,
                "access_request": request_id,
                "upstream_blockers": blockers,
            }
        )
    answer = {
        "allowed": all(r["allowed"] for r in results),
        "principal": principal.get_username() if principal is not None else None,
        "purpose": purpose,
        "datasets": results,
    }
    if lineage_behind:
        return answer, time.time()  # holds no longer than now: not cached
    return answer, grants.valid_until.timestamp() if grants.valid_until is not None else None


def _conditions(dataset, pol) -> tuple[bool, list[str]]:
    """The policy's quality and bias conditions on the latest profiled version."""
    summary = latest_profile_summary(dataset)
    reasons, ok = [], True
    label = f"version {summary['version']}" if summary else "no profiled version"
    if pol.require_quality_pass:
        quality = (summary or {}).get("quality")
        if not quality:
            ok = False
            reasons.append(f"policy requires a passing quality suite: {label} has no quality result")
        elif not quality.get("success"):
            ok = False
            reasons.append(
                f"policy requires a passing quality suite: {label} failed it (score {quality.get('score')})"
            )
        else:
            reasons.append(f"quality suite passed on {label}")
    if pol.max_parity_difference is not None:
        bias = (summary or {}).get("bias")
        cap = pol.max_parity_difference
        if not bias:
            ok = False
            reasons.append(
                f"policy caps demographic parity difference at {cap}: {label} has no bias figures "
                "(name sensitive columns and a label column)"
            )
        else:
            over = {
                attr: figs.get("demographic_parity_difference")
                for attr, figs in bias.items()
                if figs.get("demographic_parity_difference") is None
                or figs["demographic_parity_difference"] > cap
            }
            if over:
                ok = False
                detail = ", ".join(f"{a}: {v if v is None else round(v, 4)}" for a, v in over.items())
                reasons.append(
                    f"demographic parity difference over the policy's cap of {cap} on {label} ({detail})"
                )
            else:
                reasons.append(f"demographic parity difference within {cap} on {label}")
    return ok, reasons
