"""Hooks other apps subscribe to. Lineage never imports them; governance listens here.

Every signal is sent after the transaction that recorded the change has committed.
"""

from django.dispatch import Signal

# A RunEvent (COMPLETE, or without eventType) named an output whose datasetType facet says MODEL.
#   namespace, name: str -- the model node is model:<namespace>:<name>
#   version: str | None -- from the output's version facet (datasetVersion)
#   run_id: str; job: str (job node id, job:<ns>:<name>)
#   inputs: list[tuple[int, int | None]] -- (catalog dataset id, catalog version number or None)
#           for every catalog dataset the run read
#   actor: User | None -- optional: the authenticated user whose request posted the event, when
#          known (governance makes them the owner of a model it has not seen before; without it,
#          the model node's ownership facet names the owner, else nobody but staff edits the card)
model_output_recorded = Signal()
