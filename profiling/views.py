"""Profiling's web pages: a version's profile (histograms, quality, bias, drift), its live progress,
and re-running it. The dataset page (catalog) loads the panel and the progress by URL.

Reads go through profiling.selectors, writes through profiling.jobs (which refuses what the
user may not do); datasets and versions come from catalog.selectors.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.permissions import can_change_dataset
from config.errors import Conflict, Gone, NotAllowed
from profiling import jobs, privacy_budget, selectors
from profiling.visibility import may_see_values, profile_for_viewer

DONE = ("succeeded", "failed", "skipped")


def _dataset(request: HttpRequest, pk: int):
    try:
        return catalog_selectors.dataset_detail(user=request.user, pk=pk)
    except Exception as exc:  # DoesNotExist of the catalog's model, which we do not import
        if exc.__class__.__name__ == "DoesNotExist":
            raise Http404("No such dataset.") from exc
        raise


def _version(dataset, number: str | int | None):
    try:
        number = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return catalog_selectors.version_of(dataset, number)


def _profile_context(request: HttpRequest, pk: int) -> dict:
    dataset = _dataset(request, pk)
    version = _version(dataset, request.GET.get("version"))
    # A deleted version has no profile left to show: the page says it was deleted.
    alive = version is not None and version.deleted_at is None
    if alive and not may_see_values(request.user, dataset):
        # Without clearance: the differentially private release (docs/privacy.md), nothing exact.
        dp = privacy_budget.profile_answer_for(user=request.user, version=version, via="ui")
        return {
            "dataset": dataset,
            "version": version,
            "dp": dp,
            "profile": dp,
            "done": True,
            "version_numbers": list(
                dataset.versions.order_by("-number").values_list("number", flat=True)[:50]
            ),
        }
    profile = selectors.profile_answer(version) if alive else None
    profile = profile_for_viewer(profile, user=request.user, dataset=dataset)
    history = selectors.quality_history(dataset)
    columns = (profile or {}).get("columns") or []
    quality = (profile or {}).get("quality") or {}
    results = sorted(
        quality.get("results") or [], key=lambda r: (bool(r.get("success")), str(r.get("column")))
    )
    bias = (profile or {}).get("bias") or None
    # Proxy columns are shown once, from bias.proxies; other warnings once each.
    bias_warnings = [w for w in (bias or {}).get("warnings") or [] if "proxy" not in w.lower()]
    general_warnings = [
        w
        for w in (profile or {}).get("warnings") or []
        if "proxy" not in w.lower() and w not in bias_warnings
    ]
    return {
        "bias_warnings": bias_warnings,
        "general_warnings": general_warnings,
        "dataset": dataset,
        "version": version,
        "version_numbers": list(dataset.versions.order_by("-number").values_list("number", flat=True)[:50]),
        "profile": profile,
        "done": bool(profile and profile["status"] == "succeeded"),
        "columns": columns,
        "quality": quality,
        "quality_results": results,
        "failed_count": sum(1 for r in results if not r.get("success")),
        "history": history,
        "bias": bias,
        "drift": (profile or {}).get("drift"),
        "drifted": sorted(
            ((name, d) for name, d in (((profile or {}).get("drift") or {}).get("columns") or {}).items()),
            key=lambda kv: (not kv[1].get("drifted"), -(kv[1].get("psi") or 0)),
        ),
        "can_edit": can_change_dataset(request.user, dataset),
        "dp": None,
    }


@login_required
@require_GET
def profile_page_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The profile on a page of its own: what the dataset page's panel shows, readable without JavaScript."""
    return render(request, "profiling/profile_page.html", _profile_context(request, pk))


@login_required
@require_GET
def profile_panel_view(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "profiling/_profile.html", _profile_context(request, pk))


@login_required
@require_GET
def profile_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The latest version's profiling progress. While it runs the partial polls itself every second;
    when a poll sees it finish, it tells the page (HX-Trigger: profile-ready) to refresh its panels."""
    dataset = _dataset(request, pk)
    version = _version(dataset, None)
    profile = selectors.profile_answer(version) if version is not None else None
    profile = profile_for_viewer(profile, user=request.user, dataset=dataset)
    polling = request.GET.get("polling") == "1"
    status = profile["status"] if profile else None
    response = render(
        request,
        "profiling/_status.html",
        {
            "dataset": dataset,
            "version": version,
            "profile": profile,
            "polling": polling,
            "done": status in DONE,
        },
    )
    if polling and status in DONE:
        response["HX-Trigger"] = "profile-ready"
    return response


@login_required
@require_POST
def rerun_view(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    version = _version(dataset, number)
    if version is None:
        raise Http404("No such version.")
    try:
        jobs.request_rerun(actor=request.user, version=version)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except (Conflict, Gone) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Profiling of version {version.number} has been queued again.")
    return redirect("catalog:dataset", pk=dataset.pk)
