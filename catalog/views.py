"""The catalog's web pages: search, a dataset's page, registering and curating datasets.

Thin, like the API views: catalog.services (datasets), catalog.versions and catalog.columns write
(and refuse what a user may not do); catalog.selectors read; the search page's machinery is
catalog.search_page. Panels that other apps own (profile, lineage, access) are loaded by URL into
the dataset page, so the catalog imports none of them.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import ownership, selectors, services, source_selectors
from catalog.columns import update_column
from catalog.files import HashingUploadHandler
from catalog.forms import (
    ColumnForm,
    DatasetCreateForm,
    DatasetMetadataForm,
    VersionUploadForm,
    add_service_errors,
    join_list,
)
from catalog.markdown import render_markdown
from catalog.models import Column, Dataset
from catalog.permissions import can_change_dataset, can_delete_dataset, is_owner
from catalog.search_page import facet_list, search_request, search_results, sidebar_counts
from catalog.versions import add_version_from_upload, delete_version
from config.errors import Conflict, NotAllowed


def _dataset_or_404(user, pk: int) -> Dataset:
    try:
        return selectors.dataset_detail(user=user, pk=pk)
    except Dataset.DoesNotExist as exc:
        raise Http404("No such dataset.") from exc


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """Search datasets by text, narrowed by facets; best match first, paged."""
    try:
        sr = search_request(request)
    except ValidationError as exc:
        return _search_refused(request, exc)
    counts, page, ids = search_results(request, sr, all_facets=request.GET.get("facets") == "all")
    rows = {d.pk: d for d in selectors.dataset_list(user=request.user).filter(pk__in=ids)}
    results = [rows[i] for i in ids if i in rows]
    return render(
        request,
        "catalog/search.html",
        {
            "q": sr.q,
            "page": page,
            "results": results,
            "facets": None if counts is None else facet_list(counts, sr.active),
            "active": sr.active,
        },
    )


def _search_refused(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """The search page without results, saying why the search was refused (400)."""
    messages.error(request, " ".join(exc.messages))
    q = request.GET.get("q", "")
    context = {"q": q, "page": None, "results": [], "facets": [], "active": {}, "refused": True}
    return render(request, "catalog/search.html", context, status=400)


@login_required
@require_GET
def search_facets_view(request: HttpRequest) -> HttpResponse:
    """The search page's facet sidebar on its own, for a search with too many matches to count
    within the page (catalog.search_page.FACETS_INLINE_MAX): the page fetches it once its results
    are shown."""
    try:
        sr = search_request(request)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
    counts = sidebar_counts(request, sr)
    return render(
        request,
        "catalog/_facets.html",
        {"facets": facet_list(counts, sr.active), "announce": request.headers.get("HX-Request") == "true"},
    )


@login_required
@require_GET
def dataset_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset_or_404(request.user, pk)
    can_edit = can_change_dataset(request.user, dataset)
    return render(
        request,
        "catalog/dataset_detail.html",
        {
            "dataset": dataset,
            "can_edit": can_edit,
            "columns": list(dataset.columns.all()),
            "versions": list(
                dataset.versions.select_related("created_by", "deleted_by").order_by("-number")[:20]
            ),
            "can_delete": can_delete_dataset(request.user, dataset),
            "upload_form": VersionUploadForm() if can_edit else None,
            "origin": source_selectors.dataset_origin(dataset=dataset),
        },
    )


@login_required
@require_GET
def versions_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The versions table alone, refreshed after an upload or when profiling finishes."""
    dataset = _dataset_or_404(request.user, pk)
    versions = list(dataset.versions.select_related("created_by", "deleted_by").order_by("-number")[:20])
    latest = next((v.number for v in versions if v.deleted_at is None), None)
    return render(
        request,
        "catalog/_versions.html",
        {
            "dataset": dataset,
            "versions": versions,
            "latest_number": latest,
            "can_delete": can_delete_dataset(request.user, dataset),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def version_delete_view(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Delete a version's data (its owner or staff) after a confirmation page; a tombstone stays."""
    dataset = _dataset_or_404(request.user, pk)
    version = get_object_or_404(dataset.versions, number=number)
    if not can_delete_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner or staff may delete its versions.")
    if version.deleted_at is not None:
        messages.info(request, f"Version {number} was already deleted.")
        return redirect("catalog:dataset", pk=pk)
    if request.method == "POST":
        try:
            delete_version(actor=request.user, version=version, via="ui")
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        messages.success(request, f"Deleted the data of version {number}; its checksum and history stay.")
        return redirect("catalog:dataset", pk=pk)
    return render(request, "catalog/version_delete.html", {"dataset": dataset, "version": version})


@login_required
@require_GET
def columns_partial(request: HttpRequest, pk: int) -> HttpResponse:
    """The columns table alone, refreshed when profiling has found types and PII."""
    dataset = _dataset_or_404(request.user, pk)
    return render(
        request,
        "catalog/_columns.html",
        {
            "dataset": dataset,
            "columns": list(dataset.columns.all()),
            "can_edit": can_change_dataset(request.user, dataset),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create_view(request: HttpRequest) -> HttpResponse:
    """Register a dataset by hand; the signed-in user becomes its owner."""
    form = DatasetCreateForm(request.POST or None, user=request.user)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_markdown(form.cleaned_data["description"])
        else:
            data = form.service_data()
            namespace, name = data.pop("namespace"), data.pop("name")
            try:
                dataset = services.create_dataset(
                    actor=request.user, namespace=namespace, name=name, via="ui", **data
                )
            except Conflict as exc:
                form.add_error("name", str(exc))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Registered {dataset.urn}. Upload a first version below.")
                return redirect("catalog:dataset", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_form.html",
        {"form": form, "preview": preview, "creating": True},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_POST
def dataset_ownership_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Answer an offer of the dataset's ownership: the user offered it accepts or declines, its owner
    or staff withdraw it (``answer`` = accept | decline). Then back to the dataset's page."""
    dataset = _dataset_or_404(request.user, pk)
    answer = request.POST.get("answer")
    service = {"accept": ownership.accept_ownership, "decline": ownership.decline_ownership}.get(answer)
    if service is None:
        return HttpResponse("Answer accept or decline.", status=400, content_type="text/plain")
    try:
        service(actor=request.user, dataset=dataset, via="ui")
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "You own this dataset now." if answer == "accept" else "The offer is closed."
        )
    return redirect("catalog:dataset", pk=dataset.pk)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a dataset's description, tags, stewards, sensitivity and label settings."""
    dataset = _dataset_or_404(request.user, pk)
    if not can_change_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff may change it.")
    form = DatasetMetadataForm(
        request.POST or None, initial=DatasetMetadataForm.initial_for(dataset), user=request.user
    )
    if not (request.user.is_staff or is_owner(request.user, dataset)):
        form.limit_sensitivity(dataset.sensitivity)
        form.without_owner_group()
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_markdown(form.cleaned_data["description"])
        else:
            try:
                services.update_dataset(actor=request.user, dataset=dataset, via="ui", **form.service_data())
            except NotAllowed as exc:
                raise PermissionDenied(str(exc)) from exc
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("catalog:dataset", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_form.html",
        {"form": form, "preview": preview, "dataset": dataset, "creating": False},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_POST
def markdown_preview_view(request: HttpRequest) -> HttpResponse:
    """The sanitised HTML of Markdown being written (htmx swaps it under the text area)."""
    html = render_markdown(request.POST.get("description", "")[:100_000])
    return HttpResponse(html or '<p class="muted">Nothing to preview yet.</p>')


def _column(request: HttpRequest, pk: int, column_pk: int) -> Column:
    dataset = get_object_or_404(Dataset.objects.visible_to(request.user), pk=pk)
    return get_object_or_404(Column.objects.select_related("dataset"), pk=column_pk, dataset=dataset)


@login_required
@require_http_methods(["GET", "POST"])
def column_edit_view(request: HttpRequest, pk: int, column_pk: int) -> HttpResponse:
    """Document one column in place (htmx swaps the table row) or on its own page without JS."""
    column = _column(request, pk, column_pk)
    if not can_change_dataset(request.user, column.dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff may document its columns.")
    initial = {"description": column.description, "tags": join_list(column.tags), "is_pii": column.is_pii}
    form = ColumnForm(request.POST or None, initial=initial, prefix=f"col{column.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            column = update_column(actor=request.user, column=column, via="ui", **form.service_data())
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if request.htmx:
                return render(
                    request,
                    "catalog/_column_row.html",
                    {"column": column, "can_edit": True, "dataset": column.dataset},
                )
            messages.success(request, f"Column {column.name} saved.")
            return redirect(reverse("catalog:dataset", args=[pk]) + f"#col-{column.pk}")
    template = "catalog/_column_form_row.html" if request.htmx else "catalog/column_form.html"
    return render(
        request,
        template,
        {"column": column, "form": form, "dataset": column.dataset},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_GET
def column_row_view(request: HttpRequest, pk: int, column_pk: int) -> HttpResponse:
    """One column's row as shown (Cancel in the in-place editor)."""
    column = _column(request, pk, column_pk)
    return render(
        request,
        "catalog/_column_row.html",
        {
            "column": column,
            "dataset": column.dataset,
            "can_edit": can_change_dataset(request.user, column.dataset),
        },
    )


@csrf_exempt
def version_upload_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a new version from a plain form (the page's script posts to the API instead, with a
    progress bar). Uploads are hashed while they stream to disk; the handler must be set before
    the body is read, so CSRF is checked inside, after it is in place (as Django's docs show)."""
    if request.method == "POST":
        request.upload_handlers = [HashingUploadHandler(request)]
    return _version_upload(request, pk)


@csrf_protect
@login_required
@require_POST
def _version_upload(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset_or_404(request.user, pk)
    handler = request.upload_handlers[0]
    form = VersionUploadForm(request.POST, request.FILES)
    if getattr(handler, "too_large", False):
        messages.error(request, "The file is larger than the upload limit.")
        return redirect("catalog:dataset", pk=pk)
    if not form.is_valid():
        messages.error(request, "Choose a file to upload.")
        return redirect("catalog:dataset", pk=pk)
    try:
        version, created = add_version_from_upload(
            actor=request.user, dataset=dataset, upload=form.cleaned_data["file"], via="ui"
        )
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, "The file was refused: " + " ".join(exc.messages))
        return redirect("catalog:dataset", pk=pk)
    if created:
        messages.success(request, f"Stored as version {version.number}; profiling has started.")
    else:
        messages.info(
            request, f"These are the same bytes as version {version.number}; nothing new was stored."
        )
    return redirect("catalog:dataset", pk=pk)
