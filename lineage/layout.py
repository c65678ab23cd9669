"""Where each node of a lineage graph is drawn: a layered layout computed on the server, and its SVG.

The graph is the Marquez-shaped answer of lineage.marquez.lineage_graph. Layers come from the
longest path from a source (so data flows left to right), the order inside a layer from a few
barycentric sweeps (each node moves towards the mean position of its neighbours, which removes
most crossings), as in Sugiyama's method but without dummy nodes: long edges are drawn as curves.
Everything is plain arithmetic over at most a few hundred nodes.

The lineage page's view lays the graph out (``layout_graph``); its template draws it with the
``lineage_svg`` tag (lineage/templatetags/lineage_layout.py), which calls ``svg``.
"""

from dataclasses import dataclass, field

import networkx as nx
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from lineage.hidden_nodes import HIDDEN_NAME, is_hidden_node

NODE_W = 180
NODE_H = 38
# Horizontal space between layers, beyond the node width: enough for the arrows, no more, so that a
# chain of seven or eight layers still fits a laptop screen at a readable scale.
LAYER_GAP = 44
ROW_GAP = 16
MARGIN = 30
SWEEPS = 6
KINDS = {"DATASET": "dataset", "JOB": "job", "MODEL": "model", "DATASET_FIELD": "field"}


@dataclass
class PlacedNode:
    id: str
    kind: str  # dataset | job | model
    label: str
    namespace: str
    x: float
    y: float
    focus: bool = False
    restricted: bool = False
    blocked: bool = False
    href: str = ""
    title: str = ""
    hidden: bool = False  # a dataset hidden from the viewer (lineage.hidden_nodes): drawn, not linked


@dataclass
class PlacedEdge:
    origin: str
    destination: str
    path: str
    blocked: bool = False


@dataclass
class Layout:
    nodes: list[PlacedNode] = field(default_factory=list)
    edges: list[PlacedEdge] = field(default_factory=list)
    width: float = 0
    height: float = 0
    layers: int = 0


def _label(node: dict) -> tuple[str, str]:
    """(name, namespace) of a Marquez node, read from its data or, failing that, its id."""
    data = node.get("data") or {}
    if str(node.get("type", "")).upper() == "DATASET_FIELD" and data.get("field"):
        # Column lineage: the field, and the dataset it belongs to in place of a namespace.
        return str(data["field"]), str(data.get("dataset") or "")
    ident = data.get("id") if isinstance(data.get("id"), dict) else {}
    name = data.get("name") or ident.get("name")
    namespace = data.get("namespace") or ident.get("namespace")
    if not name:
        # kind:namespace:name where the namespace may hold ':'; the last part is the best guess.
        _, _, rest = node["id"].partition(":")
        namespace, _, name = rest.rpartition(":")
    return str(name), str(namespace or "")


def to_digraph(graph: list[dict]) -> nx.DiGraph:
    g = nx.DiGraph()
    for node in graph:
        g.add_node(node["id"], raw=node)
    for node in graph:
        for edge in list(node.get("inEdges") or []) + list(node.get("outEdges") or []):
            o, d = edge.get("origin"), edge.get("destination")
            if o in g and d in g and o != d:
                g.add_edge(o, d)
    return g


def _acyclic(g: nx.DiGraph) -> nx.DiGraph:
    """The graph without the edges that close cycles (a job reading and writing the same table).

    One depth-first pass finds every back edge (an edge to a node still on the DFS stack); removing
    them all leaves a DAG. Iterative, so a long chain cannot overflow Python's recursion limit.
    """
    if nx.is_directed_acyclic_graph(g):
        return g
    state: dict[str, int] = {}  # 1: on the stack, 2: finished
    back = []
    for root in sorted(g.nodes):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(sorted(g.successors(root))))]
        while stack:
            node, children = stack[-1]
            for child in children:
                seen = state.get(child)
                if seen is None:
                    state[child] = 1
                    stack.append((child, iter(sorted(g.successors(child)))))
                    break
                if seen == 1:
                    back.append((node, child))
            else:
                state[node] = 2
                stack.pop()
    dag = g.copy()
    dag.remove_edges_from(back)
    return dag


def _layers(dag: nx.DiGraph) -> dict[str, int]:
    layer: dict[str, int] = {}
    for n in nx.topological_sort(dag):
        layer[n] = max((layer[p] + 1 for p in dag.predecessors(n)), default=0)
    # Pull sources right next to their first consumer so that inputs sit beside the job reading them.
    for n in sorted(dag.nodes, key=lambda k: -layer[k]):
        succ = [layer[s] for s in dag.successors(n)]
        if succ and dag.in_degree(n) == 0:
            layer[n] = min(succ) - 1
    return layer


def _order(dag: nx.DiGraph, layer: dict[str, int]) -> list[list[str]]:
    count = max(layer.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for n in sorted(dag.nodes):
        rows[layer[n]].append(n)
    pos = {n: i for row in rows for i, n in enumerate(row)}
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, count) if down else range(count - 2, -1, -1)
        for i in indices:
            neighbours = dag.predecessors if down else dag.successors

            def bary(n, neighbours=neighbours):
                around = [pos[m] for m in neighbours(n)]
                return sum(around) / len(around) if around else pos[n]

            rows[i].sort(key=lambda n: (bary(n), pos[n]))
            for j, n in enumerate(rows[i]):
                pos[n] = j
    return rows


def layout_graph(
    graph: list[dict],
    *,
    focus: str = "",
    restricted: set[str] | None = None,
    href=None,
) -> Layout:
    """Place the nodes of a Marquez-shaped graph; mark restricted sources and what derives from them.

    ``restricted``: ids of restricted datasets. A node downstream of one is ``blocked``: it inherits
    the restriction (API.md, clearance). ``href(node_id)`` gives each node's link.
    """
    restricted = restricted or set()
    g = to_digraph(graph)
    if not g.number_of_nodes():
        return Layout()
    dag = _acyclic(g)
    layer = _layers(dag)
    rows = _order(dag, layer)
    blocked: set[str] = set()
    for r in restricted & set(g.nodes):
        blocked |= nx.descendants(g, r)
    blocked -= restricted
    tallest = max(len(r) for r in rows)
    height = MARGIN * 2 + tallest * (NODE_H + ROW_GAP) - ROW_GAP
    out = Layout(
        layers=len(rows), height=height, width=MARGIN * 2 + len(rows) * (NODE_W + LAYER_GAP) - LAYER_GAP
    )
    where: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        x = MARGIN + i * (NODE_W + LAYER_GAP)
        # Centre each layer vertically so that short layers sit in the middle of the picture.
        top = MARGIN + (tallest - len(row)) * (NODE_H + ROW_GAP) / 2
        for j, n in enumerate(row):
            y = top + j * (NODE_H + ROW_GAP)
            where[n] = (x, y)
            raw = g.nodes[n]["raw"]
            name, namespace = _label(raw)
            kind = KINDS.get(str(raw.get("type", "")).upper(), "dataset")
            hidden = is_hidden_node(n)
            marks = []
            if n in restricted:
                marks.append("restricted")
            if n in blocked:
                marks.append("derived from restricted data")
            out.nodes.append(
                PlacedNode(
                    id=n,
                    kind=kind,
                    label=name if len(name) <= 20 else "…" + name[-19:],  # 14 px text in a 180 px box
                    namespace=namespace,
                    x=x,
                    y=y,
                    focus=n == focus,
                    restricted=n in restricted,
                    blocked=n in blocked,
                    href=href(n) if href and not hidden else "",
                    title=(HIDDEN_NAME if hidden else f"{kind} {namespace}:{name}")
                    + (f" ({', '.join(marks)})" if marks else ""),
                    hidden=hidden,
                )
            )
    for o, d in g.edges:
        (x1, y1), (x2, y2) = where[o], where[d]
        sx, sy = x1 + NODE_W, y1 + NODE_H / 2
        tx, ty = x2, y2 + NODE_H / 2
        if tx <= sx:  # an edge that closes a cycle goes back: loop below the nodes
            path = f"M{sx:.0f},{sy:.0f} C{sx + 60:.0f},{sy + 80:.0f} {tx - 60:.0f},{ty + 80:.0f} {tx:.0f},{ty:.0f}"
        else:
            mid = (sx + tx) / 2
            path = f"M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
        out.edges.append(PlacedEdge(origin=o, destination=d, path=path, blocked=d in blocked))
    return out


_FILL = {"job": "#f1f1f1", "model": "#f0e9fb", "dataset": "#eaf2fb", "field": "#e8f5ee"}
_STROKE = {"job": "#5d6673", "model": "#6a3fb5", "dataset": "#0b5cad", "field": "#17663a"}
_BAD = "#a3201b"


def svg(layout: Layout) -> SafeString:
    """The edges and nodes of a laid-out graph as SVG markup; every node is a link but a hidden
    dataset's (asking about it answers as for an unknown node: a link would lead nowhere).

    Built in Python rather than with template tags: a template loop over a few hundred nodes was
    most of the page's server time. Every text from the graph is escaped.
    """
    out = ['<g class="edges" fill="none">']
    for e in layout.edges:
        colour, marker = (_BAD, "arrow-bad") if e.blocked else ("#8a929c", "arrow")
        dash = ' stroke-dasharray="5 3"' if e.blocked else ""
        out.append(
            f'<path d="{e.path}" stroke="{colour}" stroke-width="1.4" marker-end="url(#{marker})"{dash}></path>'
        )
    out.append('</g><g class="nodes">')
    for n in layout.nodes:
        classes = " ".join(
            c
            for c, on in (
                ("node", True),
                (f"node-{n.kind}", True),
                ("focus", n.focus),
                ("restricted", n.restricted),
                ("blocked", n.blocked),
                ("node-hidden", n.hidden),
            )
            if on
        )
        fill = "#fff6d6" if n.focus else "#fde6e4" if n.restricted else _FILL[n.kind]
        stroke = _BAD if (n.restricted or n.blocked) else "#7a4a00" if n.focus else _STROKE[n.kind]
        dash = ' stroke-dasharray="5 3"' if n.blocked else ""
        radius = NODE_H // 2 if n.kind == "job" else 4
        mark = "RESTRICTED · " if n.restricted else "derived · " if n.blocked else ""
        # The second line stays inside the 180 px box at 11 px: at most ~29 characters in all.
        room = max(29 - len(mark) - len(n.kind) - 3, 6)
        namespace = "not shown to you" if n.hidden else n.namespace
        namespace = namespace if len(namespace) <= room else namespace[: room - 1] + "…"
        if n.hidden:
            fill, dash = "#f4f5f6", ' stroke-dasharray="2 3"'
        sub_colour = _BAD if (n.restricted or n.blocked) else "#4a5360"
        title = escape(n.title)
        # A hidden node is a picture with a name, not a link: nothing can be asked about it.
        opening, closing = (
            (f'<g role="img" aria-label="{title}">', "</g>")
            if n.hidden
            else (f'<a href="{escape(n.href)}" aria-label="{title}">', "</a>")
        )
        out.append(
            f'<g class="{classes}" transform="translate({n.x:.0f},{n.y:.0f})" data-id="{escape(n.id)}">'
            f"{opening}<title>{title}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="{radius}" fill="{fill}" stroke="{stroke}"{dash}></rect>'
            f'<text x="10" y="17" fill="#1b1f24">{escape(n.label)}</text>'
            f'<text class="sub" x="10" y="32" fill="{sub_colour}">{escape(mark + n.kind + " · " + namespace)}</text>'
            f"{closing}</g>"
        )
    out.append("</g>")
    return mark_safe("".join(out))  # noqa: S308 -- every text above is escaped
