"""The impact page: everything downstream of a dataset (or job, or model), by distance, with whom to
tell for each, and, for a dataset's owner, steward or staff, "Notify downstream owners"
(lineage.impact_notices). Reads lineage.impact, as GET /api/v1/lineage/impact answers.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.urns import dataset_lookup_q
from config.errors import NotAllowed
from lineage import fold, impact_notices
from lineage.hidden_nodes import HIDDEN_NAME, is_hidden_node, redact_impact
from lineage.impact import impact

MAX_DEPTH = 20


def _catalog_dataset(user, node: str):
    if not node.startswith("dataset:"):
        return None
    try:
        return catalog_selectors.dataset_list(user=user).filter(dataset_lookup_q(node)).first()
    except ValidationError:
        return None


@login_required
@require_GET
def impact_view(request: HttpRequest) -> HttpResponse:
    """Consistency as the lineage page: one catch-up of pending events before reading."""
    node = request.GET.get("node", "").strip()
    try:
        depth = max(1, min(MAX_DEPTH, int(request.GET.get("depth") or MAX_DEPTH)))
    except ValueError:
        depth = MAX_DEPTH
    context = {"node": node, "depth": depth, "answer": None, "dataset": None, "can_notify": False}
    if not node:
        return render(request, "lineage/impact.html", context)
    fold.catch_up_for_read()
    try:
        answer = redact_impact(impact(node, depth=depth), user=request.user, start=node)
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return render(request, "lineage/impact.html", context, status=400)
    if answer is None:
        context["error"] = f"Nothing is known about {node} in the lineage yet."
        return render(request, "lineage/impact.html", context, status=404)
    dataset = _catalog_dataset(request.user, node)
    graph = reverse("lineage:graph")
    for level in answer["levels"]:
        for n in level["nodes"]:
            if is_hidden_node(n["id"]):  # counted and placed, but nothing to open or ask about
                n["hidden_name"], n["graph_url"] = HIDDEN_NAME, ""
            else:
                n["graph_url"] = graph + "?" + urlencode({"node": n["id"], "direction": "downstream"})
    context.update(
        answer=answer,
        dataset=dataset,
        can_notify=bool(
            dataset and catalog_selectors.may_change_dataset(request.user, dataset) and answer["count"]
        ),
        graph_url=graph + "?" + urlencode({"node": node, "direction": "downstream"}),
    )
    return render(request, "lineage/impact.html", context)


@login_required
@require_POST
def impact_notify_view(request: HttpRequest) -> HttpResponse:
    node = request.POST.get("node", "").strip()
    dataset = _catalog_dataset(request.user, node)
    if dataset is None:
        raise Http404("No such dataset.")
    fold.catch_up_for_read()
    try:
        done = impact_notices.notify_downstream_owners(
            actor=request.user, dataset=dataset, message=request.POST.get("message", "")
        )
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        told = ", ".join(done["recipients"]) or "nobody (no owner or steward is named downstream)"
        messages.success(request, f"Downstream owners notified: {told}.")
    return redirect(reverse("lineage:impact") + "?" + urlencode({"node": dataset.urn}))
