"""The Monitoring pages: a dataset's monitor (schedule, reference, rules; edited by its owner, a
steward or staff), a column's drift over versions as a chart with the threshold line, and the alert
list with acknowledge and resolve. The dataset page loads the panel by URL; the page of its own works
without JavaScript.

Thin: profiling.monitors and profiling.alerts write (and refuse what the user may not do),
profiling.monitor_selectors reads. The form posts the same fields as the API's PUT.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from profiling import alerts, monitor_selectors, monitors
from profiling.models import ACTIVE_ALERT, Metric
from profiling.monitor_rules import DEFAULTS, LABELS, describe

BLANK_ROWS = 2
MAX_ROWS = 60
RESOLVED_SHOWN = 20


def _dataset(request: HttpRequest, pk: int):
    found = catalog_selectors.dataset_list(user=request.user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such dataset.")
    return found


def _context(
    request: HttpRequest, dataset, *, form: dict | None = None, errors: list[str] | None = None
) -> dict:
    answer = monitor_selectors.monitor_answer(dataset, user=request.user)
    columns = list(dataset.columns.values_list("name", flat=True))
    drift_columns = monitor_selectors.drift_columns(dataset)
    chosen = request.GET.get("column") or _watched_column(answer, drift_columns)
    metric = "ks_pvalue" if request.GET.get("metric") == "ks_pvalue" else "psi"
    series = (
        monitor_selectors.drift_series(dataset, column=chosen, metric=metric)
        if chosen in drift_columns
        else None
    )
    listed = monitor_selectors.alert_list(user=request.user, dataset=dataset.pk)
    active = [
        monitor_selectors.alert_answer(a, user=request.user) for a in listed.filter(status__in=ACTIVE_ALERT)
    ]
    resolved = [
        monitor_selectors.alert_answer(a, user=request.user)
        for a in listed.filter(status="resolved")[:RESOLVED_SHOWN]
    ]
    for rule in answer["rules"]:
        rule["words"] = describe(rule)
    return {
        "dataset": dataset,
        "monitor": answer,
        "can_edit": can_change_dataset(request.user, dataset),
        "form": form or _form_from(answer),
        "errors": errors or [],
        "metrics": [(m, LABELS[m]) for m in DEFAULTS],
        "columns": columns,
        "version_numbers": list(dataset.versions.order_by("-number").values_list("number", flat=True)[:50]),
        "drift_columns": drift_columns,
        "chart_column": chosen if series else "",
        "chart_metric": metric,
        "series": series,
        "active_alerts": active,
        "resolved_alerts": resolved,
    }


def _watched_column(answer: dict, drift_columns: list[str]) -> str:
    """The chart's column by default: the first one a PSI or KS rule names, else the first compared."""
    for rule in answer["rules"]:
        if rule["metric"] in (Metric.PSI, Metric.KS_PVALUE) and rule["column"] in drift_columns:
            return rule["column"]
    return drift_columns[0] if drift_columns else ""


def _form_from(answer: dict) -> dict:
    rows = [
        {
            "metric": r["metric"],
            "column": r["column"] or "",
            "group": r["group"] or "",
            "op": r["op"],
            "threshold": f"{r['threshold']:g}",
        }
        for r in answer["rules"]
    ]
    rows += [{"metric": "", "column": "", "group": "", "op": "", "threshold": ""} for _ in range(BLANK_ROWS)]
    return {"schedule": answer["schedule"] or "", "reference": str(answer["reference"]), "rows": rows}


@login_required
@require_GET
def monitoring_page_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    context = {**_context(request, dataset), "back_url": request.get_full_path()}
    return render(request, "profiling/monitoring_page.html", context)


@login_required
@require_GET
def monitoring_panel_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    back = reverse("catalog:dataset", args=[dataset.pk]) + "#monitoring-panel"
    return render(
        request,
        "profiling/_monitoring.html",
        {**_context(request, dataset), "in_panel": True, "back_url": back},
    )


def _form_rows(post) -> list[dict[str, str]]:
    try:
        count = min(int(post.get("rows", 0)), MAX_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        row = {k: post.get(f"{k}-{i}", "").strip() for k in ("metric", "column", "group", "op", "threshold")}
        row["remove"] = bool(post.get(f"remove-{i}"))
        rows.append(row)
    return rows


def _threshold(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text  # refused by the service as "A number.", naming the rule


def _rules_from(rows: list[dict]) -> tuple[list[dict], list[int]]:
    """The rules to send and, for each, the form row it came from (to name rows in errors)."""
    rules, origin = [], []
    for i, row in enumerate(rows):
        if row["remove"] or not row["metric"]:
            continue
        rules.append(
            {
                "metric": row["metric"],
                "column": row["column"] or None,
                "group": row["group"] or None,
                "op": row["op"] or None,
                "threshold": _threshold(row["threshold"]),
            }
        )
        origin.append(i)
    return rules, origin


def _messages_of(exc: ValidationError, origin: list[int]) -> list[str]:
    out = []
    for key, texts in (exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}).items():
        parts = key.split(".")
        if parts[0] == "rules" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(origin):
            where = f"Rule in row {origin[int(parts[1])] + 1}" + (f", {parts[2]}" if len(parts) > 2 else "")
        else:
            where = key.capitalize() or "Monitor"
        out += [f"{where}: {t}" for t in texts]
    return out


@login_required
@require_POST
def monitor_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    rows = _form_rows(request.POST)
    rules, origin = _rules_from(rows)
    reference = request.POST.get("reference", "previous")
    try:
        monitors.set_monitor(
            actor=request.user,
            dataset=dataset,
            schedule=request.POST.get("schedule", "").strip() or None,
            reference=int(reference) if reference.isdigit() else reference,
            rules=rules,
            via="ui",
        )
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        form = {
            "schedule": request.POST.get("schedule", ""),
            "reference": reference,
            "rows": [r for r in rows if not r["remove"]],
        }
        context = {**_context(request, dataset, form=form, errors=_messages_of(exc, origin)), "back_url": ""}
        return render(request, "profiling/monitoring_page.html", context, status=400)
    messages.success(request, "The monitor is saved; its rules were judged on the latest profile.")
    return redirect("profiling:monitoring", pk=dataset.pk)


def _back(request: HttpRequest, dataset_pk: int):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("profiling:monitoring", pk=dataset_pk)


def _alert_step(request: HttpRequest, pk: int, service, done: str) -> HttpResponse:
    found = monitor_selectors.alert_list(user=request.user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such alert.")
    try:
        service(actor=request.user, alert=found, comment=request.POST.get("comment", ""), via="ui")
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except (Conflict, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, done)
    return _back(request, found.dataset_id)


@login_required
@require_POST
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _alert_step(request, pk, alerts.acknowledge_alert, "The alert is acknowledged.")


@login_required
@require_POST
def alert_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _alert_step(request, pk, alerts.resolve_alert, "The alert is resolved.")
