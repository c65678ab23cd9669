"""Access requests: the state machine and every write that moves a request.

A request moves only through the transition table (TRANSITIONS); each transition is one service
that locks the request row (select_for_update) before it reads its state, so that two deciders
racing never move it twice. Each step goes through ``_log``: an event in the request's history, a
record in the audit chain, and signals.access_request_step, on which receivers.py queues the
e-mails and the webhook once the transaction commits. Who may decide, revoke or withdraw is
policies.py's rule; this module enforces it.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.selectors import may_see_dataset
from config.errors import Conflict, NotAllowed
from governance import audit, policies, signals
from governance.models import (
    AccessRequest,
    AccessRequestEvent,
    Approval,
    DatasetPolicy,
    Decision,
    Purpose,
    RequestStatus,
    Via,
)
from governance.selectors import MAX_DATASETS_PER_QUERY, resolve_urns

# action → (statuses it may start from, status it leads to). Nothing else moves a request.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({RequestStatus.PENDING}), RequestStatus.APPROVED),
    "reject": (frozenset({RequestStatus.PENDING}), RequestStatus.REJECTED),
    "revoke": (frozenset({RequestStatus.APPROVED}), RequestStatus.REVOKED),
    "expire": (frozenset({RequestStatus.APPROVED}), RequestStatus.EXPIRED),
    "withdraw": (frozenset({RequestStatus.PENDING}), RequestStatus.WITHDRAWN),
}
# Why a request ends when the catalog deletes every dataset it names (history, audit, notifications).
DATASETS_DELETED = "its datasets were deleted"
MAX_TEXT = 10_000


def _check_transition(request: AccessRequest, action: str) -> str:
    sources, target = TRANSITIONS[action]
    if request.status not in sources:
        allowed = " or ".join(sorted(sources))
        raise Conflict(
            f"Cannot {action} access request #{request.pk}: it is {request.status}, not {allowed}.",
            {"status": [f"is {request.status}; {action} needs {allowed}"]},
        )
    return target


def _request_snapshot(request: AccessRequest) -> dict[str, Any]:
    return {
        "status": request.status,
        "requester": request.requester.get_username(),
        "datasets": list(request.dataset_urns),
        "purpose": request.purpose,
        "model": request.model_name,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
    }


def _log(
    *,
    request: AccessRequest,
    actor,
    action: str,
    from_status: str,
    comment: str,
    via: str,
    before: dict | None,
    extra: dict | None = None,
) -> AccessRequestEvent:
    """History event + audit record + the step's signal (notifications, after commit) for one step."""
    event = AccessRequestEvent.objects.create(
        request=request,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        from_status=from_status,
        to_status=request.status,
        comment=comment,
        via=via,
    )
    after = _request_snapshot(request)
    if extra:
        after.update(extra)
    audit.record(
        actor=actor,
        via=via,
        action=f"access_request.{action}",
        object_type="access_request",
        object_id=request.pk,
        object_urns=request.dataset_urns,
        before=before,
        after=after,
    )
    signals.access_request_step.send(sender=AccessRequest, event=event)
    return event


def _move(
    request: AccessRequest,
    *,
    to: str,
    actor,
    action: str,
    comment: str,
    via: str,
    decided: bool = False,
    changes: dict[str, Any] | None = None,
    extra: dict | None = None,
) -> AccessRequest:
    """Move a locked request to status ``to`` (with ``changes`` to other fields; ``decided`` stamps
    who decided and when), save it, then log the step from the status it had."""
    before = _request_snapshot(request)
    from_status = request.status
    fields: dict[str, Any] = {"status": to, **(changes or {})}
    if decided:
        fields.setdefault("decided_at", timezone.now())
        fields["decided_by"] = actor
    for name, value in fields.items():
        setattr(request, name, value)
    request.save(update_fields=[*fields, "updated_at"])
    _log(
        request=request,
        actor=actor,
        action=action,
        from_status=from_status,
        comment=comment,
        via=via,
        before=before,
        extra=extra,
    )
    return request


def _clean_comment(comment: str | None) -> str:
    comment = comment or ""
    if not isinstance(comment, str) or len(comment) > MAX_TEXT:
        raise ValidationError({"comment": [f"At most {MAX_TEXT} characters."]})
    return comment


def _lock(request: AccessRequest) -> AccessRequest:
    locked = AccessRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)
    # An approval past its expiry is expired now, not when the sweep next runs: a revoke of it is
    # refused as "expired", never recorded as a revocation of a live grant.
    return _expire_locked(locked, timezone.now())


def _decider_roles(actor, request: AccessRequest) -> policies.Deciding:
    """The actor's standing when they may decide the request (policies.decider): a role on every
    dataset still in it, and the groups through which they hold them. 409 when no dataset is left
    (no role could ever decide it), 403 otherwise."""
    datasets = list(
        request.datasets.all().select_related("owner_group").prefetch_related("stewards", "steward_groups")
    )
    if not datasets:
        raise Conflict(
            f"Access request #{request.pk} names no dataset left in the catalog ({', '.join(request.dataset_urns)} "
            "were deleted): nobody may decide it, and it ends.",
            {"datasets": ["no dataset left"]},
        )
    deciding = policies.decider(actor, requester_id=request.requester_id, datasets=datasets)
    if deciding.refusal:
        raise NotAllowed(deciding.refusal)
    return deciding


def _decision_extra(actor, deciding: policies.Deciding) -> dict[str, Any]:
    """What the audit keeps of a decision: who, with which roles, and through which groups."""
    extra: dict[str, Any] = {"approver": actor.get_username(), "roles": deciding.roles}
    if deciding.through:
        # {dataset id: {role: group}}: "acted as owner through group 'fraud-team'".
        extra["as_group"] = deciding.through
    return extra


# ---------------------------------------------------------------------------------------------
# Asking


def _parse_expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well formed but impossible: a 31st of February, an offset of 24 hours
            parsed = None
        if parsed is None:
            raise ValidationError({"expires_at": ["Not an ISO-8601 date-time."]})
        value = parsed
    if not isinstance(value, datetime):
        raise ValidationError({"expires_at": ["Not an ISO-8601 date-time."]})
    if timezone.is_naive(value):
        raise ValidationError({"expires_at": ["Give a time zone (e.g. ...Z or +02:00)."]})
    try:
        # In UTC: PostgreSQL stores no offset of 16 hours or more.
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValidationError({"expires_at": ["Past the last date that can be stored."]}) from None
    if value <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    return value


def _check_request_fields(datasets: Any, purpose: str, justification: Any, model_name: Any) -> None:
    if not isinstance(datasets, list) or not datasets or not all(isinstance(u, str) for u in datasets):
        raise ValidationError({"datasets": ["A non-empty list of dataset URNs."]})
    if len(datasets) > MAX_DATASETS_PER_QUERY:
        raise ValidationError({"datasets": [f"At most {MAX_DATASETS_PER_QUERY} datasets per request."]})
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": [f"Must be one of {', '.join(Purpose.values)}."]})
    if not isinstance(justification, str) or not justification.strip():
        raise ValidationError({"justification": ["Say why you need the data."]})
    if len(justification) > MAX_TEXT:
        raise ValidationError({"justification": [f"At most {MAX_TEXT} characters."]})
    if not isinstance(model_name, str) or len(model_name) > 255:
        raise ValidationError({"model": ["At most 255 characters."]})


@transaction.atomic
def create_access_request(
    *,
    actor,
    datasets: list[str],
    purpose: str,
    justification: str,
    model_name: str = "",
    expires_at: datetime | str | None = None,
    via: str = Via.API,
) -> AccessRequest:
    """A principal asks to use datasets for a purpose; the request starts pending.

    A request that nobody could ever decide (policies.why_undecidable) is refused (400)."""
    _check_request_fields(datasets, purpose, justification, model_name)
    expiry = _parse_expiry(expires_at)
    found = resolve_urns(list(dict.fromkeys(datasets)), field="datasets")
    # A hidden dataset the actor may not see is answered as unknown: a different answer would tell
    # anyone probing URNs that it exists (docs/governance.md, "Hidden datasets").
    unseen = [urn for urn, d in found.items() if not may_see_dataset(actor, d)]
    if unseen:
        raise ValidationError({"datasets": [f"Unknown dataset: {', '.join(unseen)}."]})
    if why := policies.why_undecidable(actor, list(found.values())):
        raise ValidationError({"datasets": [why]})
    request = AccessRequest.objects.create(
        requester=actor,
        dataset_urns=[d.urn for d in found.values()],
        purpose=purpose,
        model_name=model_name,
        justification=justification,
        expires_at=expiry,
    )
    request.datasets.set(found.values())
    _log(request=request, actor=actor, action="created", from_status="", comment="", via=via, before=None)
    return request


# ---------------------------------------------------------------------------------------------
# Deciding


def _unmet(request: AccessRequest, approvals: list[Approval]) -> list[str]:
    """What each dataset still needs, in words; empty when every dataset's requirement is met. A
    request left without datasets (deleted meanwhile) meets nothing: there is nothing to grant."""
    datasets = list(request.datasets.all())
    if not datasets:
        return ["a dataset: every dataset of the request was deleted"]
    out = []
    for ds in datasets:
        given = [(a.approver_id, a.roles.get(str(ds.pk), [])) for a in approvals]
        if not policies.requirement_met(ds.sensitivity, given):
            out.append(f"{ds.urn} ({ds.sensitivity}) needs {policies.missing_text(ds.sensitivity, given)}")
    return out


def _capped_expiry(request: AccessRequest, now: datetime) -> tuple[datetime | None, str]:
    """The request's expiry, shortened to the tightest max_approval_days of its datasets' policies."""
    days = [
        p.max_approval_days
        for p in DatasetPolicy.objects.filter(
            dataset__in=request.datasets.all(), max_approval_days__isnull=False
        )
    ]
    if not days:
        return request.expires_at, ""
    cap = now + timedelta(days=min(days))
    if request.expires_at is None or request.expires_at > cap:
        return cap, f"expiry capped at {min(days)} days by dataset policy"
    return request.expires_at, ""


def _record_decision(request: AccessRequest, actor, decision: str, roles: dict, comment: str) -> Approval:
    try:
        with transaction.atomic():
            return Approval.objects.create(
                request=request, approver=actor, decision=decision, roles=roles, comment=comment
            )
    except IntegrityError as exc:
        raise Conflict("You have already decided this request.") from exc


@transaction.atomic
def approve_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """Record the actor's approval; the request becomes approved once every dataset's requirement is met."""
    comment = _clean_comment(comment)
    request = _lock(request)
    _check_transition(request, "approve")
    deciding = _decider_roles(actor, request)
    if request.expires_at is not None and request.expires_at <= timezone.now():
        # Approving it would give nothing: it would read expired at once.
        raise Conflict(
            f"This request asked for access until {request.expires_at.isoformat()}, which has passed: "
            "the requester should ask again.",
            {"expires_at": ["in the past"]},
        )
    approvals = list(request.approvals.filter(decision=Decision.APPROVE))
    if any(a.approver_id == actor.pk for a in approvals):
        raise Conflict(
            "You have already approved this request; a second approval must come from someone else.",
            {"approver": ["already approved by you"]},
        )
    before = _request_snapshot(request)
    approvals.append(_record_decision(request, actor, Decision.APPROVE, deciding.roles, comment))
    unmet = _unmet(request, approvals)
    if unmet:
        _log(
            request=request,
            actor=actor,
            action="approval",
            from_status=request.status,
            comment=comment,
            via=via,
            before=before,
            extra={**_decision_extra(actor, deciding), "still_needed": unmet},
        )
        return request
    now = timezone.now()
    target = _check_transition(request, "approve")
    expires_at, note = _capped_expiry(request, now)
    return _move(
        request,
        to=target,
        actor=actor,
        action="approved",
        comment="; ".join(x for x in (comment, note) if x),
        via=via,
        decided=True,
        changes={"decided_at": now, "expires_at": expires_at},
        extra=_decision_extra(actor, deciding),
    )


@transaction.atomic
def reject_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """An owner or steward of every dataset concerned turns the request down."""
    comment = _clean_comment(comment)
    request = _lock(request)
    target = _check_transition(request, "reject")
    deciding = _decider_roles(actor, request)
    _record_decision(request, actor, Decision.REJECT, deciding.roles, comment)
    return _move(
        request,
        to=target,
        actor=actor,
        action="rejected",
        comment=comment,
        via=via,
        decided=True,
        extra=_decision_extra(actor, deciding),
    )


# ---------------------------------------------------------------------------------------------
# Ending


@transaction.atomic
def revoke_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """Withdraw an approved request; clearance refuses from this commit on."""
    comment = _clean_comment(comment)
    request = _lock(request)
    if not policies.can_revoke(actor, request):
        raise NotAllowed(
            "Only the requester, staff, or an owner or steward of a dataset concerned may revoke."
        )
    target = _check_transition(request, "revoke")
    return _move(request, to=target, actor=actor, action="revoked", comment=comment, via=via)


@transaction.atomic
def withdraw_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """The requester takes back their own pending request (pending → withdrawn); nobody else may."""
    comment = _clean_comment(comment)
    request = _lock(request)
    if not policies.can_withdraw(actor, request):
        raise NotAllowed("Only the requester may withdraw an access request.")
    target = _check_transition(request, "withdraw")
    return _move(request, to=target, actor=actor, action="withdrawn", comment=comment, via=via, decided=True)


@transaction.atomic
def expire_access_request(*, request: AccessRequest, now: datetime | None = None) -> AccessRequest:
    """approved → expired once its expiry has passed (the periodic sweep calls this)."""
    locked = AccessRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)
    return _expire_locked(locked, now or timezone.now())


def _expire_locked(request: AccessRequest, now: datetime) -> AccessRequest:
    if request.status != RequestStatus.APPROVED or request.expires_at is None or request.expires_at > now:
        return request  # someone revoked it meanwhile, or it is not due: nothing to do
    target = _check_transition(request, "expire")
    return _move(
        request,
        to=target,
        actor=None,
        action="expired",
        comment=f"expired at {request.expires_at.isoformat()}",
        via=Via.SYSTEM,
    )


def expire_due_access_requests(*, now: datetime | None = None) -> int:
    """Sweep every approved request whose expiry has passed; one transaction per request.

    The periodic task runs it, and so do the pages and endpoints that list requests, once before
    they read, so that a reader sees "expired" as soon as the expiry has passed (one indexed query
    when nothing is due)."""
    now = now or timezone.now()
    due = AccessRequest.objects.filter(status=RequestStatus.APPROVED, expires_at__lte=now).values_list(
        "pk", flat=True
    )
    count = 0
    for pk in list(due):
        req = expire_access_request(request=AccessRequest(pk=pk), now=now)
        count += req.status == RequestStatus.EXPIRED
    return count


# ---------------------------------------------------------------------------------------------
# Datasets deleted from under a request


def _live_requests_naming(urn: str) -> list[int]:
    """Pending or approved requests that asked for ``urn``, and those left without any dataset."""
    live = AccessRequest.objects.filter(status__in=[RequestStatus.PENDING, RequestStatus.APPROVED])
    # The URNs as asked are JSON, which SQLite cannot search by element: read them (live requests only).
    named = [pk for pk, urns in live.values_list("pk", "dataset_urns").iterator() if urn in (urns or [])]
    empty = live.annotate(n=Count("datasets")).filter(n=0).values_list("pk", flat=True)
    return sorted({*named, *empty})


def after_dataset_deleted(*, urn: str, actor=None, via: str = Via.SYSTEM) -> int:
    """The catalog deleted the dataset ``urn``: each live request that named it goes on for the datasets
    left, or ends when none is left. One transaction per request → how many requests ended."""
    ended = 0
    for pk in _live_requests_naming(urn):
        request = _drop_deleted(pk, deleted_urn=urn, actor=actor, via=via)
        ended += request.status in (RequestStatus.WITHDRAWN, RequestStatus.EXPIRED)
    return ended


def end_requests_without_datasets() -> int:
    """End every live request left without any dataset: the periodic sweep's safety net for a deletion
    whose follow-up did not run (the process stopped between its commit and the follow-up)."""
    live = AccessRequest.objects.filter(status__in=[RequestStatus.PENDING, RequestStatus.APPROVED])
    ids = list(live.annotate(n=Count("datasets")).filter(n=0).values_list("pk", flat=True))
    ended = 0
    for pk in ids:
        request = _drop_deleted(pk, deleted_urn=None)
        ended += request.status in (RequestStatus.WITHDRAWN, RequestStatus.EXPIRED)
    return ended


@transaction.atomic
def _drop_deleted(pk: int, *, deleted_urn: str | None, actor=None, via: str = Via.SYSTEM) -> AccessRequest:
    """One request after a deletion: ended (pending → withdrawn, approved → expired) when no dataset is
    left; otherwise it goes on for those left, and a pending one whose approvals already meet what they
    need is approved (no decider could add anything: each has decided)."""
    request = _lock(AccessRequest(pk=pk))
    if request.status not in (RequestStatus.PENDING, RequestStatus.APPROVED):
        return request  # decided, ended or expired meanwhile
    left = list(request.datasets.all())
    left_urns = {d.urn for d in left}
    gone = [u for u in request.dataset_urns if u not in left_urns]
    extra = {"reason": DATASETS_DELETED, "deleted": gone}
    if not left:
        action = "withdraw" if request.status == RequestStatus.PENDING else "expire"
        return _move(
            request,
            to=TRANSITIONS[action][1],
            actor=None,
            action="withdrawn" if action == "withdraw" else "expired",
            comment=f"{DATASETS_DELETED}: {', '.join(gone)}",
            via=Via.SYSTEM,
            decided=action == "withdraw",
            extra=extra,
        )
    if deleted_urn is None:
        return request
    note = (
        f"{deleted_urn} was deleted from the catalog; the request goes on for {', '.join(sorted(left_urns))}"
    )
    _log(
        request=request,
        actor=actor,
        action="dataset_deleted",
        from_status=request.status,
        comment=note,
        via=via,
        before=_request_snapshot(request),
        extra={**extra, "deleted": [deleted_urn]},
    )
    now = timezone.now()
    approvals = list(request.approvals.filter(decision=Decision.APPROVE))
    if (
        request.status != RequestStatus.PENDING
        or not approvals
        or _unmet(request, approvals)
        or (request.expires_at is not None and request.expires_at <= now)
    ):
        return request
    expires_at, cap = _capped_expiry(request, now)
    return _move(
        request,
        to=TRANSITIONS["approve"][1],
        actor=None,
        action="approved",
        comment="; ".join(x for x in (f"every dataset left has the approvals it needs ({note})", cap) if x),
        via=Via.SYSTEM,
        decided=True,
        changes={"expires_at": expires_at},
    )
