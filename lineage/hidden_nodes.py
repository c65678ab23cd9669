"""Hidden datasets in lineage answers (catalog.visibility; docs/governance.md, "Hidden datasets").

For a user who may not see a hidden dataset, its node stays in the graph, so that the graph's shape
is honest (a job still reads something upstream), but as "hidden dataset": no name, namespace,
URN, catalog id, fields or facets; its id becomes ``hidden:<n>`` (numbered within the answer) in
the node, in every edge and in jobs' inputs and outputs. Asking about the hidden node itself
answers as for an unknown node (404): its existence is what is hidden.
"""

import json
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from catalog.selectors import datasets_hidden_from
from lineage.nodes import field_candidates, spellings

HIDDEN_NAME = "hidden dataset"
HIDDEN_PREFIX = "hidden:"
_HIDDEN_REF = {"namespace": "", "name": HIDDEN_NAME}


def is_hidden_node(node_id: str) -> bool:
    """Whether ``node_id`` is a blanked node of a redacted answer (``hidden:<n>``): nothing can be
    asked about it, so pages draw it without a link (no real node id starts so: dataset:, job:...)."""
    return isinstance(node_id, str) and node_id.startswith(HIDDEN_PREFIX)


class HiddenFrom:
    """The hidden datasets one user may not see, by catalog id and by URN."""

    def __init__(self, user) -> None:
        rows = datasets_hidden_from(user)
        self.ids = {pk for pk, _ns, _name in rows}
        self.refs = [(ns, name) for _pk, ns, name in rows]
        self.urns = {f"dataset:{ns}:{name}" for _pk, ns, name in rows}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def names(self, node_id: str) -> bool:
        """Whether ``node_id`` (either spelling, or a field of it) names a dataset hidden from the user."""
        if not self.urns or not isinstance(node_id, str):
            return False
        if node_id.startswith("datasetField:"):
            return any(key in self.urns for key, _field in field_candidates(node_id))
        return any(s in self.urns for s in spellings(node_id))

    def node(self, node: dict[str, Any]) -> bool:
        if node.get("type") not in ("DATASET", "DATASET_FIELD"):
            return False
        data = node.get("data") or {}
        return data.get("catalogId") in self.ids or self.names(node["id"])


def _blank(key: str, node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": key,
        "type": node.get("type", "DATASET"),
        "data": {
            "id": dict(_HIDDEN_REF),
            "name": HIDDEN_NAME,
            "namespace": "",
            "type": "HIDDEN",
            "hidden": True,
            "description": None,
            "fields": [],
            "tags": [],
            "catalogId": None,
        },
        "inEdges": node.get("inEdges", []),
        "outEdges": node.get("outEdges", []),
    }


def redact_graph(
    graph: dict[str, Any] | None, *, user, start: str | None = None, hidden: HiddenFrom | None = None
):
    """``graph`` ({"graph": [nodes]}, Marquez's shape) as ``user`` may see it; None when the node
    asked about (``start``) is itself hidden from them."""
    if graph is None:
        return None
    hidden = hidden if hidden is not None else HiddenFrom(user)
    if not hidden:
        return graph
    if start is not None and hidden.names(start):
        return None
    keymap: dict[str, str] = {}
    nodes = graph["graph"]
    for node in nodes:
        if hidden.node(node):
            keymap[node["id"]] = f"{HIDDEN_PREFIX}{len(keymap) + 1}"
    if not keymap and not any(n.get("type") == "JOB" for n in nodes):
        return graph
    if start is not None and any(s in keymap for s in spellings(start)):
        return None

    def ref(r: dict) -> dict:
        urn = f"dataset:{r.get('namespace')}:{r.get('name')}"
        return dict(_HIDDEN_REF) if urn in keymap or urn in hidden.urns else r

    def edge(e: dict) -> dict:
        return {
            "origin": keymap.get(e["origin"], e["origin"]),
            "destination": keymap.get(e["destination"], e["destination"]),
        }

    out = []
    for node in nodes:
        node = _blank(keymap[node["id"]], node) if node["id"] in keymap else dict(node)
        node["inEdges"] = [edge(e) for e in node.get("inEdges", [])]
        node["outEdges"] = [edge(e) for e in node.get("outEdges", [])]
        if node.get("type") == "JOB":
            data = dict(node["data"])
            data["inputs"] = [ref(r) for r in data.get("inputs", [])]
            data["outputs"] = [ref(r) for r in data.get("outputs", [])]
            node["data"] = data
        out.append(node)
    out.sort(key=lambda n: n["id"])  # sorted by id, as every answer: not by the hidden names
    return {**graph, "graph": out}


def redact_impact(answer: dict[str, Any] | None, *, user, start: str) -> dict[str, Any] | None:
    """``lineage.impact.impact``'s answer as ``user`` may see it: hidden datasets downstream are
    counted and placed by distance as "hidden dataset" (nobody named for them); None when ``start``
    is itself hidden from the user."""
    if answer is None:
        return None
    hidden = HiddenFrom(user)
    if not hidden:
        return answer
    if hidden.names(start):
        return None
    n = 0
    notify: set[str] = set()
    levels = []
    for level in answer["levels"]:
        nodes = []
        for entry in level["nodes"]:
            if hidden.node({"type": entry.get("type"), "id": entry["id"], "data": entry}):
                n += 1
                entry = {
                    "id": f"{HIDDEN_PREFIX}{n}",
                    "type": entry["type"],
                    "owners": [],
                    "stewards": [],
                    "catalogId": None,
                }
            else:
                notify.update(entry.get("owners", []), entry.get("stewards", []))
            nodes.append(entry)
        levels.append({**level, "nodes": sorted(nodes, key=lambda e: e["id"])})
    return {**answer, "levels": levels, "notify": sorted(notify)}


def redact_path(answer: dict[str, Any] | None, *, user) -> dict[str, Any] | None:
    """``lineage.paths.path_between``'s answer as ``user`` may see it (None when an end is hidden)."""
    if answer is None:
        return None
    hidden = HiddenFrom(user)
    if not hidden:
        return answer
    if hidden.names(answer["from"]) or hidden.names(answer["to"]):
        return None
    graph = redact_graph({"graph": answer["graph"]}, user=user, hidden=hidden)["graph"]
    # The same numbering as the graph's: the hidden node's original key is not in the answer.
    renamed = {}
    for node in answer["graph"]:
        if hidden.node(node):
            renamed[node["id"]] = f"{HIDDEN_PREFIX}{len(renamed) + 1}"
    return {**answer, "path": [renamed.get(k, k) for k in answer["path"]], "graph": graph}


def redact_run(answer: dict[str, Any] | None, *, user) -> dict[str, Any] | None:
    """``lineage.history.run_detail``'s answer as ``user`` may see it: the hidden datasets it read or
    wrote are listed as "hidden dataset" (the run did read or write something)."""
    if answer is None:
        return None
    hidden = HiddenFrom(user)
    if not hidden:
        return answer
    n = 0

    def entry(e: dict[str, Any]) -> dict[str, Any]:
        nonlocal n
        if not hidden.names(e["id"]):
            # Its facets may name a hidden dataset (a columnLineage facet's input fields).
            return {**e, "facets": _scrub_refs(e.get("facets"), hidden)}
        n += 1
        return {"id": f"{HIDDEN_PREFIX}{n}", "type": e["type"], "namespace": "", "name": HIDDEN_NAME,
                "version": None, "catalogVersion": None, "facets": {}}  # fmt: skip

    return {
        **answer,
        "inputs": [entry(e) for e in answer["inputs"]],
        "outputs": [entry(e) for e in answer["outputs"]],
    }


def _scrub_refs(value: Any, hidden: HiddenFrom) -> Any:
    """``value`` (facets) with every {"namespace", "name", ...} naming a hidden dataset made anonymous."""
    if isinstance(value, list):
        return [_scrub_refs(v, hidden) for v in value]
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("namespace"), str) and isinstance(value.get("name"), str):
        if f"dataset:{value['namespace']}:{value['name']}" in hidden.urns:
            return {**value, "namespace": "", "name": HIDDEN_NAME}
    return {k: _scrub_refs(v, hidden) for k, v in value.items()}


def events_without_hidden(events: QuerySet, *, user) -> QuerySet:
    """The raw lineage record (``LineageEvent``) less every event that names a dataset hidden from
    ``user``: left out, not rewritten, so the body shown is still the event as received and the
    count matches the list.

    Events are stored as received (no table of the datasets they name), so the test is on the
    body's text, in the same statement: it quotes both ``"namespace": <ns>`` and ``"name": <name>``
    of a hidden dataset (in inputs, outputs, a DatasetEvent's dataset or a facet such as column
    lineage). That may leave out an event which names that namespace and that name apart, never
    one that names the dataset.
    """
    hidden = HiddenFrom(user)
    if not hidden:
        return events
    # The body as the database spells it: SQLite keeps Django's json.dumps (ASCII escapes);
    # PostgreSQL prints jsonb with the characters themselves. Both write '"key": value'.
    ascii_only = connection.vendor != "postgresql"
    events = events.alias(_body_text=Cast("body", TextField()))
    cond = Q()
    for ns, name in hidden.refs:
        quoted_ns = json.dumps(ns, ensure_ascii=ascii_only)
        quoted_name = json.dumps(name, ensure_ascii=ascii_only)
        cond |= Q(_body_text__contains=f'"namespace": {quoted_ns}') & Q(
            _body_text__contains=f'"name": {quoted_name}'
        )
    return events.exclude(cond)
