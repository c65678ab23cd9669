"""Governance's web pages: the home page, access requests and approvals, models and audit.

Governance sits on top of the other apps, so its pages may read all of them, always through
their selectors and services.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog import selectors as catalog_selectors

HOME_LIST = 8


@login_required
@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """What a person signed in would rather see first: recent datasets, what waits for them."""
    datasets = catalog_selectors.dataset_list(user=request.user)
    recent = list(datasets.order_by("-updated_at")[:HOME_LIST])
    mine = list(datasets.editable_by(request.user).order_by("-updated_at")[:HOME_LIST])
    return render(request, "governance/home.html", {"recent": recent, "mine": mine})
