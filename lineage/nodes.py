"""Node ids as API.md and Marquez spell them: ``dataset:<ns>:<name>``, ``job:<ns>:<name>``,
``model:<ns>:<name>`` and, for column lineage, ``datasetField:<ns>:<name>:<field>``.

Namespaces and names may hold ``:`` (``postgres://db:5432``), so a node id is stored whole as the
node's key and looked up exactly; it is never split to find a node.
"""

from django.core.exceptions import ValidationError

from lineage.models import NodeKind

PREFIXES = {"dataset": NodeKind.DATASET, "job": NodeKind.JOB, "model": NodeKind.MODEL}


def node_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}:{namespace}:{name}"


def check_node_id(node_id: str, field: str = "nodeId") -> str:
    """A well-formed node id, or a 400 naming the parameter."""
    prefix = node_id.split(":", 1)[0] if isinstance(node_id, str) else ""
    if prefix not in PREFIXES or node_id.count(":") < 2:
        raise ValidationError(
            {
                field: [
                    "Expected dataset:<namespace>:<name>, job:<namespace>:<name> or model:<namespace>:<name>."
                ]
            }
        )
    return node_id


def alias(node_id: str) -> str | None:
    """The other spelling of a dataset-or-model node id: one namespace + name is one node, and a
    client may call a model ``dataset:<ns>:<name>`` (as its consumers' events do) or the reverse."""
    for a, b in (("dataset:", "model:"), ("model:", "dataset:")):
        if node_id.startswith(a):
            return b + node_id[len(a) :]
    return None


def spellings(node_id: str) -> list[str]:
    """The node id and its other spelling, if it has one (look a node up by both)."""
    other = alias(node_id)
    return [node_id] if other is None else [node_id, other]


def field_candidates(field_node_id: str) -> list[tuple[str, str]]:
    """``datasetField:ns:name:field`` → every (dataset node key, field) it could mean, longest key first."""
    prefix = "datasetField:"
    if not isinstance(field_node_id, str) or not field_node_id.startswith(prefix):
        raise ValidationError(
            {"nodeId": ["Expected datasetField:<namespace>:<name>:<field> or dataset:<namespace>:<name>."]}
        )
    body = field_node_id[len(prefix) :]
    out = []
    for i in range(len(body) - 1, 0, -1):
        if body[i] == ":" and body[:i].count(":") >= 1:
            out.append((f"dataset:{body[:i]}", body[i + 1 :]))
    if not out:
        raise ValidationError({"nodeId": ["Expected datasetField:<namespace>:<name>:<field>."]})
    return out


def field_node_id(dataset_key: str, field: str) -> str:
    return "datasetField:" + dataset_key[len("dataset:") :] + ":" + field
