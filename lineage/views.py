"""The lineage page: the graph around a dataset, job or model, drawn as SVG on the server.

The layout is computed here (lineage/layout.py) and the SVG's nodes are plain links, so the page
works without JavaScript; static/gouvernail/graph.js adds pan and zoom.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from catalog import selectors as catalog_selectors
from catalog.urns import dataset_lookup_q
from lineage import fold
from lineage.column_lineage import column_lineage
from lineage.hidden_nodes import redact_graph
from lineage.layout import layout_graph
from lineage.marquez import lineage_graph
from lineage.walks import MAX_DEPTH as WALK_MAX_DEPTH

MAX_DEPTH = 20
# Without a depth asked for, the page shows the whole upstream, as far as clearance looks (so a
# dataset derived from restricted data four or forty hops away is marked), and a few hops down.
UPSTREAM_DEFAULT = WALK_MAX_DEPTH
DOWNSTREAM_DEFAULT = 2
DIRECTIONS = ("both", "upstream", "downstream")


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _catalog_rows(nodes: list[dict], user) -> dict[str, tuple[int, str]]:
    """{dataset node id: (catalog id, sensitivity)} for the graph's datasets, in one query.

    Dataset nodes carry their catalog id (``data.catalogId``); those without one are looked up by URN.
    """
    by_id: dict[int, str] = {}
    cond = Q(pk__in=[])
    for n in nodes:
        if not n["id"].startswith("dataset:"):
            continue
        catalog_id = (n.get("data") or {}).get("catalogId")
        if catalog_id:
            by_id[int(catalog_id)] = n["id"]
        else:
            try:
                cond |= dataset_lookup_q(n["id"])
            except ValidationError:
                continue
    cond |= Q(pk__in=list(by_id))
    wanted = {n["id"] for n in nodes}
    rows = (
        catalog_selectors.dataset_list(user=user)
        .filter(cond)
        .values_list("pk", "namespace", "name", "sensitivity")
    )
    out = {}
    for pk, namespace, name, sensitivity in rows:
        urn = by_id.get(pk) or f"dataset:{namespace}:{name}"
        if urn in wanted:
            out[urn] = (pk, sensitivity)
    return out


def _graph(node: str, *, depth: int | None, direction: str) -> dict | None:
    """The lineage around ``node``: ``depth`` hops each way asked, or by default the full upstream
    and DOWNSTREAM_DEFAULT hops downstream (two walks, merged)."""
    if depth:
        return lineage_graph(node, depth=depth, direction=direction)
    if direction == "upstream":
        return lineage_graph(node, depth=UPSTREAM_DEFAULT, direction="upstream")
    if direction == "downstream":
        return lineage_graph(node, depth=DOWNSTREAM_DEFAULT, direction="downstream")
    up = lineage_graph(node, depth=UPSTREAM_DEFAULT, direction="upstream")
    down = lineage_graph(node, depth=DOWNSTREAM_DEFAULT, direction="downstream")
    if not up or not down:
        return up or down
    merged = {n["id"]: n for n in down["graph"]}
    for n in up["graph"]:
        other = merged.get(n["id"])
        if other is None:
            merged[n["id"]] = n
            continue
        # The start node (or one on a cycle) is in both walks: it keeps the edges of both.
        for key in ("inEdges", "outEdges"):
            seen = {(e["origin"], e["destination"]) for e in other.get(key) or []}
            other[key] = list(other.get(key) or []) + [
                e for e in n.get(key) or [] if (e["origin"], e["destination"]) not in seen
            ]
    return {"graph": [merged[k] for k in sorted(merged)]}


@login_required
@require_GET
def graph_view(request: HttpRequest) -> HttpResponse:
    """The lineage page around ``?node=``: datasets, jobs and models, or with ``view=columns`` the
    column lineage (fields, from the columnLineage facets) around a dataset or one of its fields.

    Consistency: the graph reflects every lineage event accepted before the request when the pending
    ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it is the graph as
    folded so far, on time, and the answer says so in ``X-Lineage-Pending`` (one explicit catch-up
    before reading; reads never fold).
    """
    node = request.GET.get("node", "").strip()
    depth = _int(request.GET.get("depth"), 0, 1, MAX_DEPTH) or None
    direction = request.GET.get("direction", "both")
    if direction not in DIRECTIONS:
        direction = "both"
    view = "columns" if request.GET.get("view") == "columns" or node.startswith("datasetField:") else "nodes"
    context = {
        "node": node,
        "depth": depth,
        "direction": direction,
        "directions": DIRECTIONS,
        "view": view,
        "layout": None,
        "upstream_default": UPSTREAM_DEFAULT,
        "downstream_default": DOWNSTREAM_DEFAULT,
    }
    if not node:
        return render(request, "lineage/graph.html", context)
    fold.catch_up_for_read()
    try:
        if view == "columns":
            graph = column_lineage(node, depth=depth or MAX_DEPTH, with_downstream=direction != "upstream")
        else:
            graph = _graph(node, depth=depth, direction=direction)
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return render(request, "lineage/graph.html", context, status=400)
    except (Http404, ObjectDoesNotExist, LookupError):
        graph = None
    # Hidden datasets the user may not see: "hidden dataset" nodes; one asked about is unknown.
    graph = redact_graph(graph, user=request.user, start=node)
    if not graph or not graph.get("graph"):
        what = "column lineage" if view == "columns" else "lineage"
        context["error"] = f"Nothing is known about {node} in the {what} yet."
        return render(request, "lineage/graph.html", context, status=404)
    context.update(_laid_out(request, graph["graph"], node=node, depth=depth, direction=direction, view=view))
    return render(request, "lineage/graph.html", context)


def _field_datasets(nodes: list[dict]) -> dict[str, str]:
    """{field node id: its dataset's node id} for column lineage's DATASET_FIELD nodes."""
    out = {}
    for n in nodes:
        data = n.get("data") or {}
        if data.get("field") is not None:
            out[n["id"]] = f"dataset:{data.get('namespace')}:{data.get('dataset')}"
    return out


def _laid_out(
    request: HttpRequest, nodes: list[dict], *, node: str, depth, direction: str, view: str
) -> dict:
    """The layout of the graph with restricted sources marked (for fields: of their dataset)."""
    fields = _field_datasets(nodes) if view == "columns" else {}
    datasets = [{"id": urn} for urn in sorted(set(fields.values()))] if fields else nodes
    catalog = _catalog_rows(datasets, request.user)
    restricted = {urn for urn, (_, sensitivity) in catalog.items() if sensitivity == "restricted"}
    if fields:
        restricted = {f for f, urn in fields.items() if urn in restricted}
    base = reverse("lineage:graph")

    def href(node_id: str) -> str:
        query = {"node": node_id, "direction": direction}
        if depth:
            query["depth"] = depth
        if view == "columns":
            query["view"] = "columns"
        return base + "?" + urlencode(query)

    layout = layout_graph(nodes, focus=node, restricted=restricted, href=href)
    focus_urn = fields.get(node, node) if fields else node
    if view == "columns" and node.startswith("dataset:"):
        focus_urn = node
    return {
        "layout": layout,
        "node_count": len(layout.nodes),
        "focus_dataset_pk": catalog.get(focus_urn, (None, None))[0],
        "restricted_count": len(restricted),
        "blocked_count": sum(1 for n in layout.nodes if n.blocked),
        "switch_url": base
        + "?"
        + urlencode(
            {"node": focus_urn, "direction": direction, **({"view": "columns"} if view != "columns" else {})}
        ),
    }
