"""Reads of monitors and alerts for the API, the web UI and the monitor's own judging: a dataset's
monitor as the API writes it, alert lists, a version's figures against the reference, and a column's
drift over versions (the Monitoring panel's chart). Nothing here writes.

Group names are values of a sensitive column: for a protected dataset they are shown only to those
who may see its values (profiling.visibility), as in the profile itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from catalog import selectors as catalog_selectors
from profiling.models import ACTIVE_ALERT, Alert, AlertStatus, Metric, Monitor, ProfileRun, RunStatus
from profiling.monitor_rules import DEFAULTS, Snapshot, describe
from profiling.visibility import may_see_values

PREVIOUS = "previous"
HIDDEN = "(hidden)"
SERIES_VERSIONS = 30


def _iso(dt) -> str | None:
    return dt.isoformat() if dt else None


def monitor_of(dataset) -> Monitor | None:
    return Monitor.objects.filter(dataset=dataset).select_related("updated_by").first()


def monitor_answer(dataset, *, user) -> dict[str, Any]:
    """The dataset's monitor as the API writes it (an empty one when none was set), each rule with
    its active alert, if any."""
    monitor = monitor_of(dataset)
    hide = not may_see_values(user, dataset)
    if monitor is None:
        return {
            "dataset": dataset.pk,
            "schedule": None,
            "reference": PREVIOUS,
            "rules": [],
            "freshness_due_at": None,
            "last_run_at": None,
            "last_run_note": "",
            "last_evaluated_version": None,
            "updated_at": None,
            "updated_by": None,
        }
    active = dict(Alert.objects.filter(dataset=dataset, status__in=ACTIVE_ALERT).values_list("rule_id", "pk"))
    rules = []
    for rule in monitor.rules.all():
        spec = rule.spec()
        if hide and spec["group"]:
            spec["group"] = HIDDEN
        rules.append(
            {
                "id": rule.pk,
                **spec,
                "alert": active.get(rule.pk),
                "state": rule.state or None,
                "value": rule.value,
                "judged_version": rule.judged_version,
            }
        )
    return {
        "dataset": dataset.pk,
        "schedule": monitor.schedule or None,
        "reference": monitor.reference_version or PREVIOUS,
        "rules": rules,
        "freshness_due_at": _iso(monitor.freshness_due_at),
        "last_run_at": _iso(monitor.last_run_at),
        "last_run_note": monitor.last_run_note,
        "last_evaluated_version": monitor.last_evaluated_version,
        "updated_at": _iso(monitor.updated_at),
        "updated_by": monitor.updated_by.username if monitor.updated_by_id else None,
    }


def alert_list(*, user, dataset: str | int | None = None, status: str | None = None) -> QuerySet[Alert]:
    """Alerts of the datasets the user may see, newest first; ``dataset`` (id or URN) and ``status``
    narrow it (ValidationError for an unknown one)."""
    qs = Alert.objects.filter(dataset__in=catalog_selectors.dataset_list(user=user)).select_related(
        "dataset", "acknowledged_by", "resolved_by"
    )
    if status not in (None, ""):
        if status not in AlertStatus.values:
            raise ValidationError({"status": [f"Must be one of {', '.join(AlertStatus.values)}."]})
        qs = qs.filter(status=status)
    if dataset not in (None, ""):
        try:
            qs = qs.filter(dataset=catalog_selectors.resolve_dataset_ref(dataset))
        except ValidationError as exc:
            raise ValidationError({"dataset": exc.messages}) from None
    return qs.order_by("-opened_at", "-pk")


def alert_answer(alert: Alert, *, user) -> dict[str, Any]:
    """One alert as the API writes it (group names hidden from those who may not see values)."""
    answer = {
        "id": alert.pk,
        "dataset": alert.dataset_id,
        "dataset_urn": alert.dataset.urn,
        "rule_id": alert.rule_id,
        "rule": dict(alert.rule_spec),
        "status": alert.status,
        "message": alert.message,
        "version": alert.version_number,
        "reference": alert.reference_version,
        "figures": alert.figures,
        "resolved_figures": alert.resolved_figures,
        "opened_at": _iso(alert.opened_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.username if alert.acknowledged_by_id else None,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": alert.resolved_by.username if alert.resolved_by_id else None,
        "resolution": alert.resolution or None,
        "history": list(alert.history or []),
    }
    if alert.rule_spec.get("metric") == Metric.GROUP_SHARE and not may_see_values(user, alert.dataset):
        _hide_groups(answer)
    return answer


def _hide_groups(answer: dict[str, Any]) -> None:
    rule = answer["rule"]
    rule["group"] = HIDDEN if rule.get("group") else None
    answer["message"] = f"{describe({**rule, 'group': rule['group'] or ''})}: the group is hidden."
    for key in ("figures", "resolved_figures"):
        if answer[key]:
            answer[key] = {**answer[key], "group": HIDDEN, "groups": {}}
    answer["history"] = [
        {k: v for k, v in h.items() if k not in ("note", "figures")} for h in answer["history"]
    ]


def snapshot_of_run(run: ProfileRun, *, pinned: int | None) -> Snapshot:
    """A run's figures and its drift against the reference: the pinned version (computed from both
    drift states), or the previous one (the drift its profile stored)."""
    from profiling.engine import compute_drift

    snap = Snapshot(
        version=run.version_number,
        columns=run.columns or [],
        quality=run.quality,
        bias=run.bias,
        pii=run.pii or {},
    )
    if pinned is None:
        snap.drift = run.drift
        snap.reference = (run.drift or {}).get("previous_version")
    elif pinned != run.version_number:
        ref = _succeeded_run(run.dataset_id, pinned, "drift_state")
        current = ProfileRun.objects.filter(pk=run.pk).values_list("drift_state", flat=True).first()
        if ref is not None and ref.drift_state and current:
            snap.drift = compute_drift(ref.drift_state, current, previous_version=pinned)
            snap.reference = pinned
    if snap.reference is not None:
        ref = _succeeded_run(run.dataset_id, snap.reference, "pii")
        snap.reference_pii = (ref.pii or {}) if ref is not None else None
        if ref is None:
            snap.reference = snap.drift = None
    return snap


def _succeeded_run(dataset_id: int, number: int, *fields: str) -> ProfileRun | None:
    return (
        ProfileRun.objects.filter(dataset_id=dataset_id, version_number=number, status=RunStatus.SUCCEEDED)
        .only("pk", "dataset_id", "version_number", *fields)
        .first()
    )


def latest_succeeded_run(dataset_id: int) -> ProfileRun | None:
    """The latest version's profile that succeeded (what a monitor judges)."""
    return (
        ProfileRun.objects.filter(dataset_id=dataset_id, status=RunStatus.SUCCEEDED)
        .order_by("-version_number")
        .defer("drift_state", "schema", "warnings", "method")
        .first()
    )


def drift_series(
    dataset, *, column: str, metric: str = "psi", limit: int = SERIES_VERSIONS
) -> dict[str, Any]:
    """A column's PSI (or KS p-value) in each of the last ``limit`` profiled versions against the
    monitor's reference, with the threshold of the rule that watches it → {"column", "metric",
    "reference", "threshold", "points": [{"version", "value", "reference"}]} (oldest first)."""
    from profiling.engine import compute_drift

    key = "ks_pvalue" if metric == Metric.KS_PVALUE else "psi"
    monitor = monitor_of(dataset)
    pinned = monitor.reference_version if monitor is not None else None
    runs = list(
        ProfileRun.objects.filter(dataset=dataset, status=RunStatus.SUCCEEDED)
        .order_by("-version_number")
        .only("pk", "version_number", "drift", *(("drift_state",) if pinned else ()))[:limit]
    )[::-1]
    base = None
    if pinned is not None:
        ref = _succeeded_run(dataset.pk, pinned, "drift_state")
        base = _one_column(ref.drift_state, column) if ref is not None else None
    points = []
    for run in runs:
        if pinned is None:
            drift, reference = run.drift, (run.drift or {}).get("previous_version")
        elif base and run.drift_state and run.version_number != pinned:
            current = _one_column(run.drift_state, column)
            drift, reference = compute_drift(base, current, previous_version=pinned), pinned
        else:
            drift, reference = None, None
        value = ((drift or {}).get("columns") or {}).get(column, {}).get(key)
        if value is not None:
            points.append({"version": run.version_number, "value": value, "reference": reference})
    return {
        "column": column,
        "metric": key,
        "reference": pinned or PREVIOUS,
        "threshold": _threshold_for(monitor, key, column),
        "points": points,
    }


def _one_column(state: dict | None, column: str) -> dict | None:
    """A drift state cut down to one column: the chart compares that column alone, not all of them."""
    if not state:
        return None
    return {
        **state,
        "schema": [c for c in state.get("schema") or [] if c.get("name") == column],
        "columns": {k: v for k, v in (state.get("columns") or {}).items() if k == column},
    }


def _threshold_for(monitor: Monitor | None, metric: str, column: str) -> float:
    """The threshold of the rule that watches this column's metric (its own, else one over every
    column), else the metric's default."""
    if monitor is not None:
        rules = [r for r in monitor.rules.all() if r.metric == metric and r.column in (column, "")]
        rules.sort(key=lambda r: r.column != column)
        if rules:
            return rules[0].threshold
    return DEFAULTS[metric][1]


def drift_columns(dataset) -> list[str]:
    """The columns the latest profile compared with a reference (the chart's choices)."""
    run = (
        ProfileRun.objects.filter(dataset=dataset, status=RunStatus.SUCCEEDED)
        .exclude(drift=None)
        .order_by("-version_number")
        .only("drift")
        .first()
    )
    return sorted(((run.drift or {}).get("columns") or {}).keys()) if run is not None else []
