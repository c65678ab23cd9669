"""Subscriptions to signals: audit catalog, quality-suite and monitor changes and alert steps, carry on or end the access
requests of a deleted dataset, register models found in lineage, check policy conditions after a
profile, keep cached clearance answers fresh, and queue the notifications of each access-request step
(governance's own signal) through the outbox."""

import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import outbox
from catalog import signals as catalog_signals
from catalog.permissions import acting_groups
from catalog.visibility import register_hidden_viewer
from config.errors import Conflict, NotAllowed
from governance import access_requests, audit, clearance_cache, signals
from governance.dataset_policies import check_policy_conditions
from governance.models import Via
from governance.registry import register_model_from_lineage
from governance.selectors import approved_dataset_ids, holds_live_approval
from governance.tasks import notify_access_request_event, send_email
from lineage import signals as lineage_signals
from profiling import signals as profiling_signals
from profiling.visibility import register_value_viewer_check

log = logging.getLogger(__name__)

# Of a dataset's fields, these are governance state: who owns it (or is offered it), who stewards it,
# how sensitive it is.
AUDITED_FIELDS = (
    "owner",
    "pending_owner",
    "stewards",
    "owner_group",
    "steward_groups",
    "sensitivity",
    "sensitive_columns",
    "hidden",
)


def _via(value: str | None) -> str:
    return value if value in Via.values else Via.SYSTEM


def _audit_dataset(action: str, dataset, actor, changes: dict, via: str | None) -> None:
    picked = {k: v for k, v in (changes or {}).items() if k in AUDITED_FIELDS}
    if not picked and action == "dataset.changed":
        return
    after = {k: v[1] for k, v in picked.items()}
    if through := acting_groups(actor, dataset):
        # A member who changed it as owner or steward through a team: the audit names the team.
        after["as_group"] = through
    with transaction.atomic():
        audit.record(
            actor=actor,
            via=_via(via),
            action=action,
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before={k: v[0] for k, v in picked.items()} or None,
            after=after or None,
        )


def _tell_offered_owner(dataset, actor, changes: dict) -> None:
    """A dataset offered to someone: they are told, since it is theirs only once they accept."""
    offered = (changes.get("pending_owner") or [None, None])[1]
    user = get_user_model().objects.filter(username=offered).first() if offered else None
    if user is None or not user.email:
        return
    who = actor.get_username() if actor is not None and actor.is_authenticated else "Someone"
    body = (
        f"{who} offered you the ownership of {dataset.urn}.\n\n"
        "It becomes yours only if you accept: on its page in Gouvernail, or with "
        f"POST /api/v1/datasets/{dataset.pk}/ownership/accept/ (or .../decline/)."
    )
    # Through the outbox: a broker that is down delays the e-mail, never drops it.
    outbox.enqueue(send_email, [f"[Gouvernail] {dataset.urn} is offered to you", body, [user.email]])


def on_dataset_created(sender, dataset, actor=None, changes=None, via=None, **kwargs) -> None:
    _audit_dataset("dataset.created", dataset, actor, changes or {}, via)
    _tell_offered_owner(dataset, actor, changes or {})


def on_dataset_changed(sender, dataset, actor=None, changes=None, via=None, **kwargs) -> None:
    _audit_dataset("dataset.changed", dataset, actor, changes or {}, via)
    _tell_offered_owner(dataset, actor, changes or {})


def on_dataset_deleted(sender, dataset, actor=None, changes=None, via=None, **kwargs) -> None:
    with transaction.atomic():
        audit.record(
            actor=actor,
            via=_via(via),
            action="dataset.deleted",
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before={k: v[0] for k, v in (changes or {}).items() if k in AUDITED_FIELDS} or None,
            after=None,
        )


def on_version_deleted(sender, version, actor=None, via=None, **kwargs) -> None:
    """A version's data was deleted: recorded in its transaction (no tombstone without its record)."""
    audit.record(
        actor=actor,
        via=_via(via),
        action="version.deleted",
        object_type="dataset_version",
        object_id=version.pk,
        object_urns=[version.dataset.urn],
        before={"number": version.number, "checksum": version.checksum, "size_bytes": version.size_bytes},
        after={"deleted_at": version.deleted_at.isoformat()},
    )


def on_dataset_deleted_end_requests(sender, dataset, actor=None, via=None, **kwargs) -> None:
    """The requests that named a deleted dataset go on for the datasets left, or end when none is.
    Never raises: the deletion is committed, and the periodic sweep ends what this could not."""
    try:
        access_requests.after_dataset_deleted(urn=dataset.urn, actor=actor, via=_via(via))
    except Exception:  # noqa: BLE001 - a hook must not turn a committed deletion into an error
        log.exception("access requests naming %s not updated after its deletion", dataset.urn)


def on_model_output_recorded(
    sender, namespace, name, version=None, run_id="", job=None, inputs=(), actor=None, **kwargs
):
    """Register the model version lineage saw. A refusal (a name too long, another person's model)
    is logged, never raised: the lineage event is already stored and must not fail because of us."""
    try:
        register_model_from_lineage(
            namespace=namespace,
            name=name,
            version=version,
            run_id=run_id or "",
            inputs=inputs or [],
            actor=actor,
        )
    except (ValidationError, NotAllowed, Conflict) as exc:
        log.warning("model %s/%s version %s from lineage not registered: %s", namespace, name, version, exc)


def on_suite_changed(
    sender, dataset, actor=None, suite=None, origin="edited", changes=None, **kwargs
) -> None:
    """A dataset's expectation suite decides whether its quality condition can pass: audit it."""
    changes = changes or {}
    with transaction.atomic():
        audit.record(
            actor=actor,
            via=_via(kwargs.get("via", Via.API)),  # profiling's hook does not say; its API is the usual way
            action="quality_suite.changed",
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before={k: v[0] for k, v in changes.items()} or None,
            after={
                **{k: v[1] for k, v in changes.items()},
                "origin": origin,
                "expectations": len(getattr(suite, "expectations", None) or []),
            },
        )


def on_profile_finished(sender, version, status=None, error=None, **kwargs) -> None:
    """A new profile may make a dataset's quality or bias condition fail: record it and tell the
    owner, the stewards and whoever holds a live approval, since clearance now refuses it.
    Never raises: profiling's job is done and must not fail because of governance."""
    try:
        check_policy_conditions(dataset=version.dataset, version_number=version.number)
    except Exception:  # noqa: BLE001 - a hook must not break the profiling job that sent it
        log.exception("policy conditions of %s not checked after its profile", version)


def on_monitor_changed(sender, dataset, actor=None, changes=None, via=None, **kwargs) -> None:
    """A dataset's monitor decides when its keepers are told that the data changed: audit it."""
    changes = changes or {}
    with transaction.atomic():
        audit.record(
            actor=actor,
            via=_via(via),
            action="monitor.changed",
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before={k: v[0] for k, v in changes.items()} or None,
            after={k: v[1] for k, v in changes.items()} or None,
        )


def _audit_alert(action: str, alert, actor, via: str | None) -> None:
    last = (alert.history or [{}])[-1]
    with transaction.atomic():
        audit.record(
            actor=actor,
            via=_via(via),
            action=action,
            object_type="alert",
            object_id=alert.pk,
            object_urns=[alert.dataset.urn],
            before=None,
            after={
                "status": alert.status,
                "rule": alert.rule_spec,
                "version": alert.version_number,
                **({"resolution": alert.resolution} if alert.resolution else {}),
                **({"comment": last["comment"]} if last.get("comment") else {}),
            },
        )


def on_alert_opened(sender, alert, **kwargs) -> None:
    _audit_alert("alert.opened", alert, None, "system")


def on_alert_acknowledged(sender, alert, actor=None, via=None, **kwargs) -> None:
    _audit_alert("alert.acknowledged", alert, actor, via)


def on_alert_resolved(sender, alert, actor=None, via=None, **kwargs) -> None:
    _audit_alert("alert.resolved", alert, actor, via)


def on_privacy_spent(sender, release, actor=None, via=None, **kwargs) -> None:
    """Each differentially private release spends privacy budget: in the audit trail, in the same
    transaction as the spend (no spend without its record)."""
    audit.record(
        actor=actor,
        via=_via(via),
        action="privacy.released",
        object_type="dataset",
        object_id=release.dataset_id,
        object_urns=[release.dataset.urn],
        before=None,
        after={
            "version": release.version.number,
            "release": release.pk,
            "columns": release.columns,
            "epsilon": release.epsilon,
        },
    )


def on_privacy_settings_changed(sender, dataset, version=None, actor=None, changes=None, via=None, **kwargs):
    """A steward's privacy bounds or budget decide what may be released: audit them."""
    changes = changes or {}
    audit.record(
        actor=actor,
        via=_via(via),
        action="privacy.budget_changed" if version is not None else "privacy.bounds_changed",
        object_type="dataset",
        object_id=dataset.pk,
        object_urns=[dataset.urn],
        before={k: v[0] for k, v in changes.items()} or None,
        after={**{k: v[1] for k, v in changes.items()}, **({"version": version.number} if version else {})},
    )


def on_clearance_input_changed(sender, **kwargs) -> None:
    """Something a clearance answer rests on changed (a dataset's URN or sensitivity, a profile, the
    lineage graph): cached answers are stale. Sent after commit, so a recomputation sees the change."""
    clearance_cache.bump()


def on_access_request_step(sender, event, **kwargs) -> None:
    """Queue the step's notifications through the outbox: written in the step's own transaction, sent
    once it commits. A broker that is down delays them until it is back (the outbox's sweep), never
    costs them, the change itself, or a 5xx for the person who made it."""
    outbox.enqueue(notify_access_request_event, [event.pk])


def connect() -> None:
    signals.access_request_step.connect(on_access_request_step, dispatch_uid="governance-notifications")

    # Any change of a dataset (a rename changes its URN, not only audited fields).
    for signal, uid in (
        (catalog_signals.dataset_created, "created"),
        (catalog_signals.dataset_changed, "changed"),
        (catalog_signals.dataset_deleted, "deleted"),
    ):
        signal.connect(on_clearance_input_changed, dispatch_uid=f"governance-clearance-dataset-{uid}")
    catalog_signals.dataset_created.connect(on_dataset_created, dispatch_uid="governance-audit-created")
    catalog_signals.dataset_changed.connect(on_dataset_changed, dispatch_uid="governance-audit-changed")
    catalog_signals.dataset_deleted.connect(on_dataset_deleted, dispatch_uid="governance-audit-deleted")
    catalog_signals.version_deleted_in_transaction.connect(
        on_version_deleted, dispatch_uid="governance-audit-version-deleted"
    )
    catalog_signals.dataset_deleted.connect(
        on_dataset_deleted_end_requests, dispatch_uid="governance-requests-deleted"
    )

    profiling_signals.suite_changed.connect(on_suite_changed, dispatch_uid="governance-audit-suite")
    profiling_signals.profile_finished.connect(on_profile_finished, dispatch_uid="governance-conditions")
    profiling_signals.privacy_spent_in_transaction.connect(
        on_privacy_spent, dispatch_uid="governance-audit-dp"
    )
    profiling_signals.privacy_settings_changed_in_transaction.connect(
        on_privacy_settings_changed, dispatch_uid="governance-audit-dp-settings"
    )
    profiling_signals.monitor_changed.connect(on_monitor_changed, dispatch_uid="governance-audit-monitor")
    profiling_signals.alert_opened.connect(on_alert_opened, dispatch_uid="governance-audit-alert-opened")
    profiling_signals.alert_acknowledged.connect(
        on_alert_acknowledged, dispatch_uid="governance-audit-alert-ack"
    )
    profiling_signals.alert_resolved.connect(
        on_alert_resolved, dispatch_uid="governance-audit-alert-resolved"
    )
    # The latest profile decides a policy's quality and bias conditions.
    for signal, uid in (
        (profiling_signals.profile_queued, "queued"),
        (profiling_signals.profile_finished, "done"),
    ):
        signal.connect(on_clearance_input_changed, dispatch_uid=f"governance-clearance-profile-{uid}")
    # Whoever holds a live approval may see a protected profile's sample values.
    register_value_viewer_check(holds_live_approval)
    # ... and may know that a hidden dataset exists.
    register_hidden_viewer(approved_dataset_ids)

    lineage_signals.graph_changed.connect(
        on_clearance_input_changed, dispatch_uid="governance-clearance-lineage"
    )
    lineage_signals.model_output_recorded.connect(
        on_model_output_recorded, dispatch_uid="governance-model-from-lineage"
    )
