"""The event catalogue: the names people subscribe to, what each one carries, who may see it, and how
one is recorded (docs/events.md is the reference a receiver reads).

An event is recorded with ``record``: an Event row and an outbox message (catalog.outbox) that has a
worker fan it out and deliver it (governance/deliveries.py), both in the caller's transaction, which
is always the change's own: governance's changes (an access request's step, a model's registration)
record theirs directly, and the other apps send a signal inside their transaction that
governance/event_receivers.py turns into the event there. The event exists if and only if the change
does; if it cannot be written, the change fails with it (event_receivers.py says why).

Who may see an event follows who may read what it is about, each from its one home: an event about
datasets reaches whoever may read those datasets (catalog's ``Dataset.objects.visible_to``; today
every signed-in user, since catalog metadata is not hidden); an access request's step reaches its
requester, the owners and stewards of its datasets and staff (``selectors.visible_access_requests``);
a source's scan and a model's registration, every signed-in user (sources and models are listed to
all). Payloads carry metadata and figures only, never sample values of the data: a profile's error
message, which may quote a row, is sent only for public and internal datasets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction

from catalog import outbox
from catalog.models import Dataset, Sensitivity
from governance import notifications
from governance.models import AccessRequestEvent, Event
from governance.selectors import visible_access_requests
from profiling import selectors as profiling_selectors

# The worker task that fans events out and delivers them (governance/tasks.py), by its registered
# name: the task module imports the delivery side, which imports this module.
DELIVER_TASK = "governance.deliver_events"

ACCESS_REQUEST_STEPS = (
    "created",
    "approval",
    "approved",
    "rejected",
    "revoked",
    "withdrawn",
    "expired",
    "dataset_deleted",
)
EVENT_NAMES: tuple[str, ...] = (
    "version.stored",
    "profile.finished",
    "quality.failed",
    "drift.detected",
    "alert.opened",
    "alert.resolved",
    "model.registered",
    "model.evaluated",
    *(f"access_request.{step}" for step in ACCESS_REQUEST_STEPS),
    "source.scan.finished",
)
DESCRIPTIONS = {
    "version.stored": "A new version of a dataset was stored.",
    "profile.finished": "A version's profile finished (succeeded or failed), with its quality and drift.",
    "quality.failed": "A version's quality suite did not pass.",
    "drift.detected": "A monitor found drift against the reference version.",
    "alert.opened": "A monitor's rule fired: an alert opened.",
    "alert.resolved": "An alert was resolved (by hand, or the rule passes again).",
    "model.registered": "A model version was registered with its training data.",
    "model.evaluated": "A model version's evaluation finished (succeeded or failed), with its overall figures "
    "and disparities.",
    "access_request.*": "A step of an access request (created, approval, approved, rejected, revoked, "
    "withdrawn, expired, dataset_deleted).",
    "source.scan.finished": "A source's scan finished (succeeded, partial or failed).",
}
PATTERN = re.compile(r"^[a-z_.*]{1,64}$")

# Scopes: what decides who may see an event.
DATASETS, ACCESS_REQUEST, CATALOG = "datasets", "access_request", "catalog"


def scope_of(name: str) -> str:
    if name.startswith("access_request."):
        return ACCESS_REQUEST
    if name in ("model.registered", "model.evaluated", "source.scan.finished"):
        return CATALOG
    return DATASETS


def names_matching(pattern: str) -> list[str]:
    """The catalogue's names a pattern (``*`` as a wildcard) stands for."""
    return [n for n in EVENT_NAMES if fnmatchcase(n, pattern)]


def pattern_problem(pattern: Any) -> str | None:
    """Why a subscription's event name or pattern is refused (None: it is fine)."""
    if not isinstance(pattern, str) or not PATTERN.match(pattern):
        return f"{str(pattern)[:80]!r} is not an event name: lower-case words, dots and * only."
    if not names_matching(pattern):
        return f"{pattern!r} names no event; the events are {', '.join(EVENT_NAMES)}."
    return None


def matches(patterns: Iterable[str], name: str) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


# ---------------------------------------------------------------------------------------------
# Recording


class Occurrence(NamedTuple):
    """One event to record (``record_many``): its name, data and what decides who may see it."""

    name: str
    data: dict[str, Any]
    datasets: Iterable[Dataset] = ()
    namespaces: Iterable[str] = ()
    subject: str = ""


def record(
    name: str,
    data: dict[str, Any],
    *,
    datasets: Iterable[Dataset] = (),
    namespaces: Iterable[str] = (),
    subject: str = "",
) -> Event:
    """Record one event of the catalogue, and the outbox message that delivers it, in the current
    transaction (a transaction of its own outside one), in a savepoint: a failure raises and
    leaves the caller's transaction as it was before the call."""
    return record_many([Occurrence(name, data, datasets, namespaces, subject)])[0]


def record_many(occurrences: list[Occurrence]) -> list[Event]:
    """Record events in this order as ``record`` does one, with one outbox message for all of them:
    the message only wakes the worker, which fans out every event not yet dispatched."""
    for o in occurrences:
        if o.name not in EVENT_NAMES:
            raise ValueError(f"{o.name!r} is not in the event catalogue")
    rows = []
    for o in occurrences:
        datasets = [d for d in o.datasets if d is not None and d.pk is not None]
        rows.append(
            Event(
                name=o.name,
                data=o.data,
                dataset_ids=sorted({d.pk for d in datasets}),
                namespaces=list(dict.fromkeys([*o.namespaces, *(d.namespace for d in datasets)])),
                subject=o.subject,
            )
        )
    if not rows:
        return []
    with transaction.atomic():
        Event.objects.bulk_create(rows)
        outbox.enqueue(DELIVER_TASK, queue=getattr(settings, "EVENTS_QUEUE", "") or None)
    return rows


# ---------------------------------------------------------------------------------------------
# What each event carries ("data"); docs/events.md shows each


def dataset_ref(dataset) -> dict[str, Any]:
    return {
        "id": dataset.pk,
        "urn": dataset.urn,
        "namespace": dataset.namespace,
        "name": dataset.name,
        "sensitivity": dataset.sensitivity,
    }


def _username(user) -> str | None:
    return user.get_username() if user is not None and getattr(user, "is_authenticated", False) else None


def version_stored_data(version, actor=None) -> dict[str, Any]:
    return {
        "dataset": dataset_ref(version.dataset),
        "version": {
            "number": version.number,
            "size_bytes": version.size_bytes,
            "format": version.format,
            "checksum": version.checksum,
            "by_reference": bool(getattr(version, "is_reference", False)),
            "created_at": version.created_at.isoformat() if version.created_at else None,
        },
        "actor": _username(actor),
    }


# The per-column drift figures a profile.finished carries at most (the drifted columns are kept
# first, then the highest PSI); "columns_omitted" says how many more were compared. The keys' order
# is not kept (PostgreSQL's jsonb sorts them).
MAX_DRIFT_COLUMNS = 200


def _figure(value: Any) -> float | None:
    """A number as JSON can carry it (NaN and infinities are not JSON: None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _drift(profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """The drift against the previous version: which columns drifted, each compared column's PSI and
    KS p-value, the schema changes (names and types). Figures only, never a value of the data."""
    drift = (profile or {}).get("drift")
    if not drift:
        return None
    columns = {n: c for n, c in (drift.get("columns") or {}).items() if isinstance(c, dict)}
    ranked = sorted(
        columns, key=lambda n: (not columns[n].get("drifted"), -(_figure(columns[n].get("psi")) or 0), n)
    )
    kept = ranked[:MAX_DRIFT_COLUMNS]
    return {
        "previous_version": drift.get("previous_version"),
        "drifted_columns": sorted(n for n, c in columns.items() if c.get("drifted")),
        "columns": {
            n: {
                "psi": _figure(columns[n].get("psi")),
                "ks_pvalue": _figure(columns[n].get("ks_pvalue")),
                "drifted": bool(columns[n].get("drifted")),
            }
            for n in kept
        },
        "columns_omitted": len(ranked) - len(kept),
        "schema_changes": [
            {k: c[k] for k in ("change", "column", "before", "after") if k in c}
            for c in (drift.get("schema_changes") or [])[:MAX_DRIFT_COLUMNS]
            if isinstance(c, dict)
        ],
    }


def _quality(profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """The quality suite's verdict: passed or not, its score, how many expectations were evaluated
    and how many failed (which ones: quality.failed)."""
    quality = (profile or {}).get("quality")
    results = [r for r in (quality or {}).get("results") or [] if isinstance(r, dict)]
    if not results:
        return None  # a suite without expectations checked nothing
    return {
        "success": bool(quality.get("success")),
        "score": _figure(quality.get("score")),
        "evaluated": len(results),
        "failed": sum(1 for r in results if not r.get("success")),
    }


def profile_finished_data(version, status: str, error: str | None) -> tuple[dict[str, Any], dict | None]:
    """(the profile.finished data, the quality.failed data or None)."""
    dataset = version.dataset
    profile = profiling_selectors.profile_figures(version) if status == "succeeded" else None
    open_data = dataset.sensitivity in (Sensitivity.PUBLIC, Sensitivity.INTERNAL)
    data = {
        "dataset": dataset_ref(dataset),
        "version": version.number,
        "status": status,
        "row_count": (profile or {}).get("row_count"),
        "quality": _quality(profile),
        "drift": _drift(profile),
        # The reason may quote the data: only where everyone may see the data's values.
        "error": (error or None) if open_data else ("The profile failed." if error else None),
    }
    quality = data["quality"]
    if quality is None or quality["success"]:
        return data, None
    failed = [
        {"expectation": r.get("expectation"), "column": r.get("column")}
        for r in (profile or {}).get("quality", {}).get("results", [])
        if isinstance(r, dict) and not r.get("success")
    ]
    return data, {
        "dataset": data["dataset"],
        "version": version.number,
        "score": quality["score"],
        "failed_expectations": failed[:100],
    }


def alert_data(alert) -> dict[str, Any]:
    """An alert of a dataset's monitor (profiling's Alert), as alert.opened and alert.resolved carry it."""

    def when(name: str) -> str | None:
        value = getattr(alert, name, None)
        return value.isoformat() if value is not None else None

    return {
        "dataset": dataset_ref(alert.dataset),
        "alert": {
            "id": alert.pk,
            "status": getattr(alert, "status", None),
            "rule": getattr(alert, "rule_spec", None),
            "message": getattr(alert, "message", ""),
            "version": getattr(alert, "version_number", None),
            "reference_version": getattr(alert, "reference_version", None),
            "figures": getattr(alert, "figures", None),
            "resolved_figures": getattr(alert, "resolved_figures", None),
            "resolution": getattr(alert, "resolution", "") or None,
            "opened_at": when("opened_at"),
            "resolved_at": when("resolved_at"),
        },
    }


def drift_data(dataset, *, version=None, reference=None, columns=None, alert=None) -> dict[str, Any]:
    """drift.detected: the dataset, the versions compared and the per-column figures as sent."""
    number = getattr(version, "number", version)
    return {
        "dataset": dataset_ref(dataset),
        "version": number if isinstance(number, int) else None,
        "reference_version": getattr(reference, "number", reference) if reference is not None else None,
        "columns": columns if isinstance(columns, dict | list) else None,
        "alert": getattr(alert, "pk", None),
    }


def model_registered_data(mv, inputs: Iterable[Any] | None = None) -> dict[str, Any]:
    """``inputs``: the version's TrainingInput rows when the caller has them (else read here)."""
    return {
        "model": {
            "id": mv.pk,
            "namespace": mv.model.namespace,
            "name": mv.model.name,
            "version": mv.version,
            "run_id": mv.run_id or None,
            "cleared": mv.cleared,
        },
        "trained_on": [str(i) for i in (mv.inputs.all() if inputs is None else inputs)],
        "registered_by": _username(mv.registered_by),
        "via": mv.via,
    }


def model_evaluated_data(mv, summary: dict[str, Any]) -> dict[str, Any]:
    """The model and its evaluation's figures: overall and the disparities per sensitive column,
    never the groups (their names are values of the data) nor the error (it may quote a label)."""
    return {
        "model": {"id": mv.pk, "namespace": mv.model.namespace, "name": mv.model.name, "version": mv.version},
        **{k: v for k, v in summary.items() if k != "error"},
    }


def access_request_data(step: AccessRequestEvent) -> dict[str, Any]:
    """The former webhook's payload without its envelope keys (the event's name, and "at")."""
    payload = notifications.payload(step)
    return {k: v for k, v in payload.items() if k not in ("event", "at")}


def scan_data(scan) -> dict[str, Any]:
    source = scan.source
    return {
        "source": {"id": source.pk, "name": source.name, "kind": source.kind},
        "scan": {
            "id": scan.pk,
            "status": scan.status,
            "trigger": scan.trigger,
            **{k: getattr(scan, k) for k in ("found", "registered", "changed", "unchanged", "removed")},
            "errors": list(scan.errors or [])[:20],
            "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        },
    }


# ---------------------------------------------------------------------------------------------
# Who may see which event


def visible_event_ids(user, events: Iterable[Event]) -> set[int]:
    """The ids of the events ``user`` may see (two queries at most, whatever their number)."""
    events = list(events)
    if user is None or not user.is_authenticated or not user.is_active or not events:
        return set()
    dataset_ids = {i for e in events for i in e.dataset_ids}
    seen_datasets = (
        set(Dataset.objects.visible_to(user).filter(pk__in=dataset_ids).values_list("pk", flat=True))
        if dataset_ids
        else set()
    )
    request_ids = {_subject_id(e) for e in events if scope_of(e.name) == ACCESS_REQUEST} - {None}
    seen_requests = (
        set(visible_access_requests(user).filter(pk__in=request_ids).values_list("pk", flat=True))
        if request_ids
        else set()
    )
    out = set()
    for e in events:
        scope = scope_of(e.name)
        if scope == ACCESS_REQUEST:
            ok = _subject_id(e) in seen_requests
        elif scope == DATASETS:
            ok = bool(e.dataset_ids) and all(i in seen_datasets for i in e.dataset_ids)
        else:
            ok = True
        if ok:
            out.add(e.pk)
    return out


def _subject_id(event: Event) -> int | None:
    kind, _, pk = event.subject.partition(":")
    return int(pk) if pk.isdigit() else None


# ---------------------------------------------------------------------------------------------
# One line of text (Slack, e-mail subjects)


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "?"


def _profile_line(d: dict) -> str:
    at = f"{(d.get('dataset') or {}).get('urn')}@{d.get('version')}"
    if d.get("status") != "succeeded":
        return f"Profile of {at} failed."
    q = d.get("quality")
    quality = (
        "no quality suite"
        if not q
        else f"quality {'passed' if q['success'] else 'failing'} ({_pct(q['score'])})"
    )
    drifted = (d.get("drift") or {}).get("drifted_columns") or []
    drift = f"drift in {', '.join(drifted[:5])}" if drifted else "no drift"
    return f"Profile of {at} succeeded: {quality}, {drift}."


def _access_line(name: str, d: dict) -> str:
    req = d.get("access_request") or {}
    who = d.get("actor") or "Gouvernail"
    step = name.split(".", 1)[1].replace("_", " ")
    return f"Access request #{req.get('id')} ({', '.join(req.get('datasets') or [])}): {step} by {who}, now {req.get('status')}."


def summary(name: str, data: dict[str, Any]) -> str:
    """What happened, in one line of plain text."""
    d = data or {}
    urn = (d.get("dataset") or {}).get("urn", "")
    if name == "version.stored":
        v = d.get("version") or {}
        return f"Version {v.get('number')} of {urn} stored ({v.get('format')}, {v.get('size_bytes')} bytes)."
    if name == "profile.finished":
        return _profile_line(d)
    if name == "quality.failed":
        return f"Quality suite failing on {urn}@{d.get('version')}: score {_pct(d.get('score'))}."
    if name == "drift.detected":
        return f"Drift detected on {urn}@{d.get('version')} against version {d.get('reference_version')}."
    if name in ("alert.opened", "alert.resolved"):
        alert = d.get("alert") or {}
        return f"Alert {name.split('.')[1]} on {urn}: {alert.get('message') or alert.get('rule')}."
    if name == "model.registered":
        m = d.get("model") or {}
        cleared = "cleared" if m.get("cleared") else "NOT cleared"
        return (
            f"Model {m.get('namespace')}/{m.get('name')} version {m.get('version')} registered ({cleared})."
        )
    if name == "model.evaluated":
        m = d.get("model") or {}
        return (
            f"Evaluation of model {m.get('namespace')}/{m.get('name')} version {m.get('version')} on "
            f"{d.get('dataset')} {d.get('status')}."
        )
    if name.startswith("access_request."):
        return _access_line(name, d)
    if name == "source.scan.finished":
        s, scan = d.get("source") or {}, d.get("scan") or {}
        return (
            f"Scan of source {s.get('name')} {scan.get('status')}: {scan.get('registered')} new, "
            f"{scan.get('changed')} changed, {scan.get('removed')} removed."
        )
    return name
