"""The sources' web pages: the list, adding one, its page (settings, Test connection, Scan now with
live progress, scan history, its datasets), changing and deleting it.

Thin, like catalog/views.py: catalog.sources and catalog.scans write and refuse what a user may
not do; catalog.source_selectors reads. Every signed-in user sees sources and their scans (as the
API lists them); where a source's credentials are (its secret's name) only its managers see.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from catalog import scans, source_selectors, sources
from catalog.forms import add_service_errors
from catalog.leases import ACTIVE
from catalog.models import Source, SourceScan
from catalog.permissions import can_add_source, can_delete_source, can_manage_source
from catalog.source_forms import SourceCreateForm, SourceSettingsForm, describe_schedule
from config.errors import Conflict, NotAllowed

log = logging.getLogger(__name__)

SOURCES_PER_PAGE = 100
DATASETS_PER_PAGE = 50
TEST_LIMIT = 20  # names Test connection lists
GONE = '<div id="scan-status"><p class="status-bad">This scan or its source has been deleted.</p></div>'


def _source_or_404(pk: int, *, counts: bool = True, user=None) -> Source:
    try:
        if not counts:
            return source_selectors.source_by_pk(pk=pk)
        # Its dataset counts leave out the hidden datasets ``user`` may not see.
        return source_selectors.source_detail(pk=pk, user=user)
    except Source.DoesNotExist as exc:
        raise Http404("No such source.") from exc


def _status(request: HttpRequest, form) -> int:
    return 400 if request.method == "POST" and form.errors else 200


@login_required
@require_GET
def source_list_view(request: HttpRequest) -> HttpResponse:
    """Every source with its kind, URI, schedule, datasets and last scan."""
    page = Paginator(source_selectors.source_list(user=request.user), SOURCES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "catalog/source_list.html",
        {"page": page, "can_add": can_add_source(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def source_create_view(request: HttpRequest) -> HttpResponse:
    """Add a source (staff, or users with catalog.add_source); then its page, to test and scan it."""
    if not can_add_source(request.user):
        raise PermissionDenied("Only staff or users allowed to add sources may add one.")
    form = SourceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source = sources.create_source(actor=request.user, **form.service_data())
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except Conflict as exc:
            form.add_error("name", str(exc))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Added the source {source.name}. Test the connection, then scan it.")
            return redirect("catalog:source", pk=source.pk)
    form.forget_credentials()
    return render(
        request, "catalog/source_form.html", {"form": form, "creating": True}, status=_status(request, form)
    )


def _detail_context(request: HttpRequest, source: Source) -> dict:
    user = request.user
    page = Paginator(source_selectors.source_datasets(user=user, source=source), DATASETS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    scan = source_selectors.without_hidden_errors(
        source_selectors.current_scan(source=source), user=user, source_id=source.pk
    )
    return {
        "source": source,
        "can_manage": can_manage_source(user, source),
        "can_delete": can_delete_source(user, source),
        "scan": scan,
        "active": scan is not None and scan.status in ACTIVE,
        "scans": source_selectors.without_hidden_errors(
            source_selectors.scan_history(source=source), user=user, source_id=source.pk
        ),
        "scan_total": source_selectors.scan_count(source=source),
        "datasets": page,
    }


@login_required
@require_GET
def source_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    source = _source_or_404(pk, user=request.user)
    return render(request, "catalog/source_detail.html", _detail_context(request, source))


@login_required
@require_POST
def source_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Test connection: connect and list what a scan would register, writing nothing. htmx gets the
    result alone; a plain form post gets the source's page with it."""
    source = _source_or_404(pk, user=request.user)
    try:
        result = sources.test_source(actor=request.user, source=source, limit=TEST_LIMIT)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - a connector's surprise is an answer, never a 500
        log.exception("testing source %s failed unexpectedly", source.pk)
        result = {
            "ok": False,
            "would_register": [],
            "error": f"The test failed unexpectedly ({exc.__class__.__name__}); the details are in the server's log.",
        }
    if request.htmx:
        return render(
            request, "catalog/_source_test.html", {"source": source, "result": result, "limit": TEST_LIMIT}
        )
    context = _detail_context(request, source) | {"result": result, "limit": TEST_LIMIT}
    return render(request, "catalog/source_detail.html", context)


@login_required
@require_POST
def source_scan_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Scan now: queue a scan (or find the one already waiting or running). htmx gets its live
    progress; a plain form post goes back to the source's page, which shows it."""
    source = _source_or_404(pk, user=request.user)
    before = source_selectors.current_scan(source=source)
    try:
        scan = scans.request_scan(actor=request.user, source=source)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    already = before is not None and before.pk == scan.pk
    if request.htmx:
        return _scan_status(request, source, scan, polling=True, already=already)
    if already:
        messages.info(request, "A scan of this source is already waiting or running: here it is.")
    else:
        messages.success(request, "Scan queued.")
    return redirect("catalog:source", pk=source.pk)


def _scan_status(request, source: Source, scan: SourceScan, *, polling: bool, already: bool = False):
    scan = source_selectors.without_hidden_errors(scan, user=request.user, source_id=source.pk)
    active = scan.status in ACTIVE
    response = render(
        request,
        "catalog/_scan_status.html",
        {"source": source, "scan": scan, "active": active, "polling": polling, "already": already},
    )
    if polling and not active:
        # The poll that sees the end tells the page to refresh its history and datasets.
        response["HX-Trigger"] = "scan-finished"
    return response


@login_required
@require_GET
def scan_status_view(request: HttpRequest, pk: int, scan_id: int) -> HttpResponse:
    """One scan's progress and counts. While it waits or runs the partial polls itself every second;
    the poll that sees it finish tells the page (HX-Trigger: scan-finished)."""
    polling = request.GET.get("polling") == "1"
    try:
        source = source_selectors.source_by_pk(pk=pk)
        scan = source_selectors.scan_of(source=source, scan_id=scan_id)
    except (Source.DoesNotExist, SourceScan.DoesNotExist) as exc:
        if polling and request.htmx:  # deleted meanwhile: say so, and stop the poll (status 286)
            return HttpResponseStopPolling(GONE)
        raise Http404("No such scan of this source.") from exc
    return _scan_status(request, source, scan, polling=polling)


@login_required
@require_GET
def scan_history_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The scan history table alone, refreshed when a scan finishes."""
    source = _source_or_404(pk, counts=False)
    return render(
        request,
        "catalog/_scan_history.html",
        {
            "source": source,
            "scans": source_selectors.without_hidden_errors(
                source_selectors.scan_history(source=source), user=request.user, source_id=source.pk
            ),
            "scan_total": source_selectors.scan_count(source=source),
        },
    )


@login_required
@require_GET
def source_datasets_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The source's datasets alone (first page), refreshed when a scan finishes."""
    source = _source_or_404(pk, user=request.user)
    page = Paginator(source_selectors.source_datasets(user=request.user, source=source), DATASETS_PER_PAGE)
    return render(request, "catalog/_source_datasets.html", {"source": source, "datasets": page.get_page(1)})


@login_required
@require_http_methods(["GET", "POST"])
def source_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a source's settings (its owner, a steward or staff): schedule, patterns, secret..."""
    source = _source_or_404(pk, user=request.user)
    if not can_manage_source(request.user, source):
        raise PermissionDenied("Only the source's owner, a steward or staff may change it.")
    form = SourceSettingsForm(request.POST or None, initial=SourceSettingsForm.initial_for(source))
    if not (request.user.is_staff or source.owner_id == request.user.pk):
        form.without_owner()
    if request.method == "POST" and form.is_valid():
        try:
            sources.update_source(actor=request.user, source=source, **form.service_data())
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("catalog:source", pk=source.pk)
    form.forget_credentials()
    return render(
        request,
        "catalog/source_form.html",
        {
            "form": form,
            "source": source,
            "creating": False,
            "can_delete": can_delete_source(request.user, source),
        },
        status=_status(request, form),
    )


@login_required
@require_http_methods(["GET", "POST"])
def source_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a source (its owner or staff) after a confirmation page; its datasets stay."""
    source = _source_or_404(pk, user=request.user)
    if not can_delete_source(request.user, source):
        raise PermissionDenied("Only the source's owner or staff may delete it.")
    if request.method == "POST":
        try:
            sources.delete_source(actor=request.user, source=source)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        messages.success(request, f"Deleted the source {source.name}; its datasets stay in the catalog.")
        return redirect("catalog:sources")
    return render(request, "catalog/source_delete.html", {"source": source})


@login_required
@require_GET
def schedule_hint_view(request: HttpRequest) -> HttpResponse:
    """A cron schedule in words as it is typed (htmx swaps it under the field)."""
    try:
        text, ok = describe_schedule(request.GET.get("schedule", "")[:100]), True
    except ValidationError as exc:
        text, ok = " ".join(exc.messages), False
    return render(request, "catalog/_schedule_hint.html", {"text": text, "ok": ok})
