"""Every write of governance: policies, access requests and their transitions, models.

Access requests move through an explicit transition table (TRANSITIONS); each transition is one
service that locks the request row (select_for_update) before it reads its state, so that two
deciders racing never move it twice. Each transition leaves an event in the request's history,
a record in the audit chain, and notifications queued once the transaction commits.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.permissions import can_change_dataset, is_owner
from catalog.urns import split_version
from config.errors import Conflict, NotAllowed
from governance import audit, notifications, policies
from governance.models import (
    AccessRequest,
    AccessRequestEvent,
    Approval,
    DatasetPolicy,
    Decision,
    ModelVersion,
    Purpose,
    RegisteredModel,
    RequestStatus,
    TrainingInput,
    Via,
)
from governance.selectors import MAX_DATASETS_PER_QUERY, resolve_urns

User = get_user_model()

# action → (statuses it may start from, status it leads to). Nothing else moves a request.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({RequestStatus.PENDING}), RequestStatus.APPROVED),
    "reject": (frozenset({RequestStatus.PENDING}), RequestStatus.REJECTED),
    "revoke": (frozenset({RequestStatus.APPROVED}), RequestStatus.REVOKED),
    "expire": (frozenset({RequestStatus.APPROVED}), RequestStatus.EXPIRED),
    "withdraw": (frozenset({RequestStatus.PENDING}), RequestStatus.WITHDRAWN),
}
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
    """History event + audit record + notifications (after commit) for one step of a request."""
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
    notifications.queue_for_event(event)
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


# ---------------------------------------------------------------------------------------------
# Policies


def _relaxed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The conditions a policy change loosens: a check dropped, a cap raised or removed."""
    out = []
    if before["require_quality_pass"] and not after["require_quality_pass"]:
        out.append("require_quality_pass")
    for cap in ("max_parity_difference", "max_approval_days"):
        if before[cap] is not None and (after[cap] is None or after[cap] > before[cap]):
            out.append(cap)
    return out


@transaction.atomic
def set_dataset_policy(*, actor, dataset, via: str = Via.API, **changes: Any) -> DatasetPolicy:
    """The owner, a steward or staff tightens a dataset's governance policy; only the owner or staff
    relax it again (as with sensitivity: a steward alone must not undo the owner's conditions)."""
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change its policy.")
    policy, _ = DatasetPolicy.objects.select_for_update().get_or_create(dataset=dataset)
    fields = ("require_quality_pass", "max_parity_difference", "max_approval_days")
    before = {f: getattr(policy, f) for f in fields}
    for key, value in changes.items():
        if key == "require_quality_pass":
            if not isinstance(value, bool):
                raise ValidationError({key: ["true or false."]})
        elif key == "max_parity_difference":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
            ):
                raise ValidationError({key: ["A number between 0 and 1, or null."]})
            value = None if value is None else float(value)
        elif key == "max_approval_days":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650
            ):
                raise ValidationError({key: ["A whole number of days between 1 and 3650, or null."]})
        else:
            raise ValidationError({key: ["This field cannot be set."]})
        setattr(policy, key, value)
    relaxed = _relaxed(before, {f: getattr(policy, f) for f in fields})
    if relaxed and not (actor.is_staff or is_owner(actor, dataset)):
        raise NotAllowed(
            f"Only the dataset's owner or staff may relax its policy ({', '.join(relaxed)}); stewards may tighten it."
        )
    policy.updated_by = actor
    policy.save()
    after = {f: getattr(policy, f) for f in fields}
    if after != before:
        audit.record(
            actor=actor,
            via=via,
            action="policy.changed",
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before=before,
            after=after,
        )
    return policy


# ---------------------------------------------------------------------------------------------
# Access requests


def _parse_expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(value)
        if parsed is None:
            raise ValidationError({"expires_at": ["Not an ISO-8601 date-time."]})
        value = parsed
    if not isinstance(value, datetime):
        raise ValidationError({"expires_at": ["Not an ISO-8601 date-time."]})
    if timezone.is_naive(value):
        raise ValidationError({"expires_at": ["Give a time zone (e.g. ...Z or +02:00)."]})
    if value <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    return value


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
    """A principal asks to use datasets for a purpose; the request starts pending."""
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
    expiry = _parse_expiry(expires_at)
    found = resolve_urns(list(dict.fromkeys(datasets)), field="datasets")
    _check_decidable(actor, list(found.values()))
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


def _check_decidable(requester, datasets: list) -> None:
    """Refuse (400) a request that nobody could ever decide (QA F23).

    A decider must hold a role on every dataset of the request, and nobody decides their own; so
    when no one but the requester is an owner or steward of all of them -- or a restricted one's
    owner and a steward are not both among those people -- the request would stay pending forever.
    Staff do not decide requests (approvals come from the people answerable for the data), so the
    way out is one request per owner.
    """
    from catalog.selectors import datasets_by_ids

    full = list(datasets_by_ids(d.pk for d in datasets).values())
    people: dict[int, tuple[int | None, set[int]]] = {
        ds.pk: (ds.owner_id, {s.pk for s in ds.stewards.all()}) for ds in full
    }
    common: set[int] | None = None
    for owner_id, stewards in people.values():
        holders = stewards | ({owner_id} if owner_id is not None else set())
        common = holders if common is None else common & holders
    common = (common or set()) - {getattr(requester, "pk", None)}
    blocked = [
        ds.urn
        for ds in full
        if not common
        or not policies.requirement_met(
            ds.sensitivity,
            [
                (uid, policies.roles_of(uid, owner_id=people[ds.pk][0], steward_ids=people[ds.pk][1]))
                for uid in common
            ],
        )
    ]
    if not blocked:
        return
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
    raise ValidationError(
        {
            "datasets": [
                f"Nobody could decide this request: {why}. Split the request by owner ({groups}); "
                "a restricted dataset is best requested on its own."
            ]
        }
    )


def _lock(request: AccessRequest) -> AccessRequest:
    locked = AccessRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)
    # An approval past its expiry is expired now, not when the sweep next runs (QA F8): a revoke
    # of it is refused as "expired", never recorded as a revocation of a live grant.
    return _expire_locked(locked, timezone.now())


def _decider_roles(actor, request: AccessRequest) -> dict[str, list[str]]:
    """{dataset id: roles} when the actor may decide the request; refuses (403) otherwise."""
    if actor is None or not actor.is_authenticated:
        raise NotAllowed("Sign in to decide access requests.")
    if actor.pk == request.requester_id:
        raise NotAllowed("Nobody decides their own access request.")
    roles: dict[str, list[str]] = {}
    missing = []
    for ds in request.datasets.all().prefetch_related("stewards"):
        held = policies.roles_of(
            actor.pk, owner_id=ds.owner_id, steward_ids=[s.pk for s in ds.stewards.all()]
        )
        if not held:
            missing.append(ds.urn)
        roles[str(ds.pk)] = held
    if missing:
        raise NotAllowed(
            "Only an owner or steward of every dataset concerned may decide this request; "
            f"you are neither for {', '.join(missing)}."
        )
    return roles


def _unmet(request: AccessRequest, approvals: list[Approval]) -> list[str]:
    """What each dataset still needs, in words; empty when every dataset's requirement is met."""
    out = []
    for ds in request.datasets.all():
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


@transaction.atomic
def approve_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """Record the actor's approval; the request becomes approved once every dataset's requirement is met."""
    comment = _clean_comment(comment)
    request = _lock(request)
    _check_transition(request, "approve")
    roles = _decider_roles(actor, request)
    if request.expires_at is not None and request.expires_at <= timezone.now():
        # Approving it would give nothing: it would read expired at once (QA G22).
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
    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                request=request, approver=actor, decision=Decision.APPROVE, roles=roles, comment=comment
            )
    except IntegrityError as exc:
        raise Conflict("You have already decided this request.") from exc
    approvals.append(approval)
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
            extra={"approver": actor.get_username(), "roles": roles, "still_needed": unmet},
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
        extra={"approver": actor.get_username(), "roles": roles},
    )


@transaction.atomic
def reject_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """An owner or steward of every dataset concerned turns the request down."""
    comment = _clean_comment(comment)
    request = _lock(request)
    target = _check_transition(request, "reject")
    roles = _decider_roles(actor, request)
    try:
        with transaction.atomic():
            Approval.objects.create(
                request=request, approver=actor, decision=Decision.REJECT, roles=roles, comment=comment
            )
    except IntegrityError as exc:
        raise Conflict("You have already decided this request.") from exc
    return _move(request, to=target, actor=actor, action="rejected", comment=comment, via=via, decided=True)


def can_revoke(actor, request: AccessRequest) -> bool:
    """The requester (giving access up), staff, or an owner or steward of any dataset concerned."""
    if actor is None or not actor.is_authenticated:
        return False
    if actor.is_staff or actor.pk == request.requester_id:
        return True
    return any(can_change_dataset(actor, ds) for ds in request.datasets.all())


@transaction.atomic
def revoke_access_request(
    *, actor, request: AccessRequest, comment: str = "", via: str = Via.API
) -> AccessRequest:
    """Withdraw an approved request; clearance refuses from this commit on."""
    comment = _clean_comment(comment)
    request = _lock(request)
    if not can_revoke(actor, request):
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
    if actor is None or not actor.is_authenticated or actor.pk != request.requester_id:
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
    """Sweep every approved request whose expiry has passed; one transaction per request."""
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
# Models


def _training_inputs(refs: Any) -> list[tuple[Any, Any, int | None]]:
    """[(dataset, version or None, number or None)] from URNs with an optional @<version>."""
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise ValidationError(
            {"trained_on": ["A non-empty list of dataset URNs (optionally ending @<version>)."]}
        )
    if len(refs) > MAX_DATASETS_PER_QUERY:
        raise ValidationError({"trained_on": [f"At most {MAX_DATASETS_PER_QUERY} datasets."]})
    split = [split_version(r) for r in dict.fromkeys(refs)]
    found = resolve_urns(list(dict.fromkeys(u for u, _ in split)), field="trained_on")
    from catalog.selectors import version_of

    out, missing = [], []
    for urn, number in split:
        ds = found[urn]
        # Without "@<version>" the model saw the latest version at this moment: record which one
        # (QA F9), so the card still says what was trained on once newer versions arrive. A dataset
        # with no version yet stays null.
        version = version_of(ds, number)
        if number is not None and version is None:
            missing.append(f"{urn}@{number}")
        out.append((ds, version, number))
    if missing:
        raise ValidationError({"trained_on": [f"Unknown dataset version: {', '.join(missing)}."]})
    return out


def _check_identifier(field: str, value: Any, limit: int = 255) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: ["This field is required and may not be blank."]})
    if len(value) > limit or any(ord(ch) < 32 for ch in value):
        raise ValidationError({field: [f"At most {limit} printable characters."]})
    return value


@transaction.atomic
def register_model_version(
    *,
    actor,
    namespace: str,
    name: str,
    version: str,
    trained_on: list[str],
    run_id: str = "",
    via: str = Via.API,
    record_lineage: bool = True,
    principal=None,
) -> ModelVersion:
    """Register a trained model version, its training data, and the clearance answer at this moment.

    The clearance is computed for the principal (default: the actor) and purpose ``training``; a
    model trained without clearance is registered all the same, and shows as not cleared everywhere.
    """
    _check_identifier("namespace", namespace)
    _check_identifier("name", name)
    _check_identifier("version", str(version) if isinstance(version, int) else version, 100)
    version = str(version)
    if not isinstance(run_id, str) or len(run_id) > 100:
        raise ValidationError({"run_id": ["At most 100 characters."]})
    inputs = _training_inputs(trained_on)
    authenticated = actor is not None and actor.is_authenticated
    # A pipeline registering for a person: the person owns the model (and edits its card).
    first_owner = principal if principal is not None else (actor if authenticated else None)
    model, created = RegisteredModel.objects.select_for_update().get_or_create(
        namespace=namespace, name=name, defaults={"owner": first_owner}
    )
    if (
        not created
        and model.owner_id
        and authenticated
        and not (actor.is_staff or model.owner_id in (actor.pk, getattr(principal, "pk", None)))
    ):
        raise NotAllowed(f"Only the owner of model {namespace}/{name} or staff may register versions of it.")
    if model.versions.filter(version=version).exists():
        raise Conflict(
            f"Model {namespace}/{name} already has a version {version}.", {"version": ["already registered"]}
        )
    from governance.clearance import evaluate

    if principal is None and authenticated:
        principal = actor
    answer = evaluate(
        principal=principal,
        urns=list(dict.fromkeys(ds.urn for ds, _, _ in inputs)),
        purpose=Purpose.TRAINING,
    )
    previous = model.versions.order_by("-created_at", "-id").first()
    mv = ModelVersion.objects.create(
        model=model,
        version=version,
        run_id=run_id,
        registered_by=actor if authenticated else None,
        via=via,
        cleared=answer["allowed"],
        clearance=answer,
        intended_use=previous.intended_use if previous else "",
        caveats=previous.caveats if previous else "",
    )
    TrainingInput.objects.bulk_create(
        [
            TrainingInput(
                model_version=mv,
                dataset=ds,
                dataset_version=ver,
                dataset_urn=ds.urn,
                version_number=ver.number if ver else None,
            )
            for ds, ver, _ in inputs
        ]
    )
    if record_lineage:
        mv.lineage_node = _record_lineage(mv, inputs, actor)
        if mv.lineage_node:
            mv.save(update_fields=["lineage_node"])
    audit.record(
        actor=actor,
        via=via,
        action="model.registered",
        object_type="model",
        object_id=mv.pk,
        object_urns=[ds.urn for ds, _, _ in inputs],
        before=None,
        after={
            "model": f"{namespace}/{name}",
            "version": version,
            "run_id": run_id,
            "trained_on": [f"{ds.urn}@{ver.number}" if ver else ds.urn for ds, ver, _ in inputs],
            "cleared": answer["allowed"],
            "clearance": answer,
        },
    )
    return mv


def _record_lineage(mv: ModelVersion, inputs, actor) -> str:
    """Ask lineage to record the training run; lineage may not be installed yet (then: no node)."""
    try:
        from lineage.services import record_training_run
    except ImportError:
        return ""
    return (
        record_training_run(
            model_namespace=mv.model.namespace,
            model_name=mv.model.name,
            model_version=mv.version,
            inputs=[(ds, ver) for ds, ver, _ in inputs],
            run_id=mv.run_id or None,
            actor=actor,
        )
        or ""
    )


def can_edit_model(actor, mv: ModelVersion) -> bool:
    if actor is None or not actor.is_authenticated:
        return False
    return actor.is_staff or (mv.model.owner_id is not None and mv.model.owner_id == actor.pk)


@transaction.atomic
def update_model_version(
    *, actor, model_version: ModelVersion, via: str = Via.API, **changes: Any
) -> ModelVersion:
    """The model's owner (or staff) edits the card's intended use and caveats (Markdown)."""
    if not can_edit_model(actor, model_version):
        raise NotAllowed("Only the model's owner or staff may edit its card.")
    mv = ModelVersion.objects.select_for_update().select_related("model").get(pk=model_version.pk)
    before = {"intended_use": mv.intended_use, "caveats": mv.caveats}
    for key, value in changes.items():
        if key not in ("intended_use", "caveats"):
            raise ValidationError({key: ["This field cannot be set."]})
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > MAX_TEXT * 5:
            raise ValidationError({key: [f"Markdown text of at most {MAX_TEXT * 5} characters."]})
        setattr(mv, key, value)
    mv.save()
    after = {"intended_use": mv.intended_use, "caveats": mv.caveats}
    if after != before:
        audit.record(
            actor=actor,
            via=via,
            action="model.card_edited",
            object_type="model",
            object_id=mv.pk,
            object_urns=list(mv.inputs.values_list("dataset_urn", flat=True)),
            before=before,
            after=after,
        )
    return mv


def _lineage_model_owner(namespace: str, name: str, actor):
    """Who owns a model first seen in an OpenLineage event (QA F27): the first known user named by
    the model's ownership facet (the producer's statement of who owns it), else the user who posted
    the event, else nobody (then only staff edit its card)."""
    from lineage.selectors import node_by_key

    node = node_by_key(f"model:{namespace}:{name}")
    names = [n for n in (getattr(node, "owners", None) or []) if isinstance(n, str)]
    if names:
        users = {u.get_username(): u for u in User.objects.filter(username__in=names, is_active=True)}
        named = next((users[n] for n in names if n in users), None)
        if named is not None:
            return named
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor
    return None


def register_model_from_lineage(
    *,
    namespace: str,
    name: str,
    version: str | None,
    run_id: str,
    inputs: Iterable[tuple[int, int | None]],
    actor=None,
) -> ModelVersion | None:
    """A MODEL output found in an OpenLineage event: register it (lineage already holds the node)."""
    from catalog.selectors import datasets_by_ids

    pairs = list(inputs)
    datasets = datasets_by_ids(pk for pk, _ in pairs)
    refs = [f"{datasets[pk].urn}@{num}" if num else datasets[pk].urn for pk, num in pairs if pk in datasets]
    version = str(version or run_id or "1")[:100]
    model = RegisteredModel.objects.filter(namespace=namespace, name=name).first()
    if model is not None and model.versions.filter(version=version).exists():
        return None  # the same run reported twice (START and COMPLETE): registered once
    if not refs:
        return None
    # The clearance recorded is the model owner's: the existing owner, or for a new model the one
    # _lineage_model_owner finds (who becomes its owner and may edit its card).
    owner = model.owner if model is not None and model.owner_id else None
    if model is None:
        owner = _lineage_model_owner(namespace, name, actor)
    mv = register_model_version(
        actor=None,
        principal=owner,
        namespace=namespace,
        name=name,
        version=version,
        trained_on=refs,
        run_id=run_id[:100] if run_id else "",
        via=Via.LINEAGE,
        record_lineage=False,
    )
    mv.lineage_node = f"model:{namespace}:{name}"
    mv.save(update_fields=["lineage_node"])
    return mv


# ---------------------------------------------------------------------------------------------
# Policy conditions after a new profile


@transaction.atomic
def check_policy_conditions(*, dataset, version_number: int) -> bool | None:
    """Check a dataset's quality/bias conditions once a version is profiled; None when it has none.

    When they fail, an audit record ``policy.condition_failed`` is written and the owner, the
    stewards and the principals holding a live approval for the dataset are e-mailed (after commit).
    """
    policy = DatasetPolicy.objects.filter(dataset=dataset).first()
    if policy is None or not (policy.require_quality_pass or policy.max_parity_difference is not None):
        return None
    from governance.clearance import Policy, _conditions

    ok, reasons = _conditions(
        dataset, Policy(policy.require_quality_pass, policy.max_parity_difference, policy.max_approval_days)
    )
    if ok:
        return True
    audit.record(
        actor=None,
        via=Via.SYSTEM,
        action="policy.condition_failed",
        object_type="dataset",
        object_id=dataset.pk,
        object_urns=[dataset.urn],
        before=None,
        after={"version": version_number, "reasons": reasons},
    )
    now = timezone.now()
    holders = User.objects.filter(
        access_requests__datasets=dataset, access_requests__status=RequestStatus.APPROVED
    ).exclude(access_requests__expires_at__lte=now)
    people = {dataset.owner, *dataset.stewards.all(), *holders} - {None}
    to = sorted({p.email for p in people if p.email})
    if to:
        body = "\n".join(
            [
                f"Version {version_number} of {dataset.urn} was profiled and no longer meets the dataset's policy:",
                *[f"  - {r}" for r in reasons],
                "",
                "Clearance for this dataset (and for data derived from it) is refused until a version meets it.",
            ]
        )
        subject = f"[Gouvernail] {dataset.urn}: policy condition failed on version {version_number}"
        transaction.on_commit(lambda: notifications.send_plain(subject, body, to))
    return False
