"""Lineage answers exported as GraphML or DOT, through DRF renderers (``?format=graphml|dot``).

Any answer that holds a Marquez-shaped ``graph`` list (lineage, column lineage, path, impact's
levels) is turned into a networkx DiGraph and written with networkx's own GraphML writer; DOT is
written here (no pydot/graphviz dependency) with every label quoted and escaped.
"""

import json
from typing import Any

import networkx as nx
import orjson
from rest_framework.renderers import BaseRenderer, JSONRenderer


def to_networkx(data: dict[str, Any]) -> nx.DiGraph:
    g = nx.DiGraph()
    for node in data.get("graph") or []:
        g.add_node(node["id"], type=node.get("type", ""))
        for e in node.get("outEdges") or []:
            g.add_edge(e["origin"], e["destination"])
        for e in node.get("inEdges") or []:
            g.add_edge(e["origin"], e["destination"])
    for level in data.get("levels") or []:
        for node in level.get("nodes") or []:
            g.add_node(node["id"], type=node.get("type", ""), distance=level.get("distance", 0))
    return g


def _dot_quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_SHAPES = {"DATASET": "box", "JOB": "ellipse", "MODEL": "hexagon", "DATASET_FIELD": "note"}


def to_dot(g: nx.DiGraph, name: str = "lineage") -> str:
    lines = [f"digraph {_dot_quote(name)} {{", "  rankdir=LR;"]
    for node, attrs in sorted(g.nodes(data=True)):
        shape = _SHAPES.get(attrs.get("type", ""), "box")
        lines.append(f"  {_dot_quote(node)} [shape={shape}];")
    for src, dst in sorted(g.edges()):
        lines.append(f"  {_dot_quote(src)} -> {_dot_quote(dst)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _is_graph(data: Any) -> bool:
    return isinstance(data, dict) and ("graph" in data or "levels" in data)


class GraphMLRenderer(BaseRenderer):
    media_type = "application/graphml+xml"
    format = "graphml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not _is_graph(data):  # errors keep their JSON shape
            return json.dumps(data).encode()
        return "\n".join(nx.generate_graphml(to_networkx(data))).encode("utf-8")


class DotRenderer(BaseRenderer):
    media_type = "text/vnd.graphviz"
    format = "dot"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not _is_graph(data):
            return json.dumps(data).encode()
        return to_dot(to_networkx(data)).encode("utf-8")


class FastJSONRenderer(JSONRenderer):
    """JSON through orjson: a 10,000-node lineage answer is several MB, and the standard encoder
    would spend more time on it than the query. Falls back to DRF's encoder for exotic values."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return super().render(data, accepted_media_type, renderer_context)
