"""Hooks other apps subscribe to. Lineage never imports them; governance listens here.

Every signal is sent after the transaction that recorded the change has committed.
"""

from django.dispatch import Signal

from config.commit_hooks import on_commit_once
from lineage.models import Node

# A RunEvent (COMPLETE, or without eventType) named an output whose datasetType facet says MODEL.
#   namespace, name: str -- the model node is model:<namespace>:<name>
#   version: str | None -- from the output's version facet (datasetVersion)
#   run_id: str; job: str (job node id, job:<ns>:<name>)
#   inputs: list[tuple[int, int | None]] -- (catalog dataset id, catalog version number or None)
#           for every catalog dataset the run read
#   actor: User | None -- the authenticated user whose request posted the event (None when a
#          rebuild replays it). Governance gives a model it has not seen before to the first known
#          user of the model's ownership facet, else to this poster, else to nobody (staff edit it).
model_output_recorded = Signal()

# The current graph changed: edges added or removed, a node linked to a catalog dataset or turned
# into a model, or the graph rebuilt. No arguments. Governance's cached clearance answers rest on it.
graph_changed = Signal()

# Someone told the owners of everything downstream of a dataset that it changed (the impact page's
# "Notify downstream owners"). Sent after commit.
#   dataset: catalog Dataset; actor: User; message: str
#   downstream: list[dict] -- the impact's nodes: {"id", "type", "distance", "owners", "stewards",
#               "catalogId"?}; recipients: list[str] -- usernames told (owners and stewards)
# When nothing else listens (no event catalogue yet), lineage e-mails the recipients itself.
impact_notified = Signal()


def send_graph_changed_on_commit() -> None:
    """Send ``graph_changed`` once the current transaction commits (nothing if it rolls back): once
    per transaction, however many of its changes ask (its receivers only drop what they cached)."""
    on_commit_once(_send_graph_changed, robust=True)


def _send_graph_changed() -> None:
    graph_changed.send(sender=Node)
