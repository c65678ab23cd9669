"""The Erasures page (staff or a privacy officer): a form to erase a data subject's value, the
report of what was found and purged, and the erasures made. Thin: governance.erasures writes.
The value typed is never shown back, stored or logged; the page shows reports only."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from catalog.forms import add_service_errors
from config.errors import Unprocessable
from governance import erasures
from governance.models import Erasure


class ErasureForm(forms.Form):
    value = forms.CharField(
        max_length=erasures.MAX_VALUE_LENGTH,
        strip=False,
        label="Value to erase",
        help_text="An e-mail, an id... It is not stored: the record keeps a keyed digest of it.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    column = forms.CharField(
        required=False,
        max_length=1024,
        label="Column (optional)",
        help_text="Search only columns of this name.",
    )
    delete_versions = forms.BooleanField(
        required=False,
        label="Also delete the stored copies (uploaded versions) that hold it",
        help_text="Each becomes a tombstone; data at a source is only reported.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def erasures_view(request: HttpRequest) -> HttpResponse:
    if not erasures.can_erase(request.user):
        raise PermissionDenied("Only staff or a privacy officer may erase values.")
    made, nowhere = None, ""
    form = ErasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = erasures.erase_value(actor=request.user, via="ui", **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except Unprocessable as exc:
            nowhere = str(exc)
        else:
            form = ErasureForm()  # the value leaves the page with the request
    if request.method == "POST":
        form.data = form.data.copy()
        form.data["value"] = ""  # never echo the value back
    page = Paginator(Erasure.objects.select_related("requested_by"), 20).get_page(request.GET.get("page"))
    return render(
        request, "governance/erasures.html", {"form": form, "made": made, "nowhere": nowhere, "page": page}
    )
