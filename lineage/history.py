"""History: the runs that read or wrote a dataset, a run with what it read and wrote, the raw event
record, and how far the graph is behind that record (the backlog)."""

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from lineage.fold import apply_mode
from lineage.marquez import iso, run_data
from lineage.models import Direction, EventState, LineageEvent, Node, NodeKind, Run, RunIO


def runs_of_dataset(
    node: Node | None, *, direction: str | None = None, version: int | None = None
) -> QuerySet[RunIO]:
    """The runs that wrote (output) or read (input) a dataset, newest first; optionally one version."""
    if node is None:
        return RunIO.objects.none()
    qs = RunIO.objects.filter(node=node).select_related("run", "run__job")
    if direction in (Direction.INPUT, Direction.OUTPUT):
        qs = qs.filter(direction=direction)
    if version is not None:
        qs = qs.filter(version_number=version)
    return qs.order_by("-run__begun_at", "-run_id", "direction")


def run_detail(run_id: str) -> dict[str, Any] | None:
    """A run as Marquez answers it, with the job and what the run read and wrote (None: unknown)."""
    run = Run.objects.select_related("job").filter(run_id=run_id.lower()).first()
    if run is None:
        return None
    ios = list(run.io.select_related("node").order_by("node__key"))

    def entry(io: RunIO) -> dict[str, Any]:
        return {
            "id": io.node.key,
            "type": io.node.kind,
            "namespace": io.node.namespace,
            "name": io.node.name,
            "version": io.version_label or None,
            "catalogVersion": io.version_number,
            "facets": io.facets,
        }

    return {
        **run_data(run, run.job),
        "job": run.job.key,
        "inputs": [entry(io) for io in ios if io.direction == Direction.INPUT],
        "outputs": [entry(io) for io in ios if io.direction == Direction.OUTPUT],
    }


def events(
    *,
    run_id: str | None = None,
    job: str | None = None,
    event_type: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LineageEvent]:
    """The raw record, newest first, filtered by run, job, event type, state and event time."""
    qs = LineageEvent.objects.all().order_by("-id")
    if state:
        qs = qs.filter(state=state)
    if run_id:
        qs = qs.filter(run_id=run_id.lower())
    if job:
        qs = qs.filter(job_key=job)
    if event_type:
        qs = qs.filter(event_type=event_type.upper())
    if since:
        qs = qs.filter(event_time__gte=since)
    if until:
        qs = qs.filter(event_time__lte=until)
    return qs


def dataset_facets(dataset_id: int) -> dict[str, Any]:
    """The latest OpenLineage facets reported for a catalog dataset (quality facets shown beside our
    own profile), including the input facets (dataQualityMetrics) of the latest run that read it."""
    node = Node.objects.filter(dataset_id=dataset_id, kind=NodeKind.DATASET).first()
    if node is None:
        return {}
    out = dict(node.facets)
    latest_io = RunIO.objects.filter(node=node).order_by("-run__begun_at", "-id").first()
    if latest_io is not None:
        for k in ("dataQualityMetrics", "dataQualityAssertions"):
            if k in latest_io.facets:
                out[k] = latest_io.facets[k]
    return out


def backlog() -> dict[str, Any]:
    """How far the graph is behind the record: events pending (and the oldest one's arrival) and
    events the graph refused. Counted on the partial index of unapplied events, never the record."""
    pending = LineageEvent.objects.filter(state=EventState.PENDING)
    oldest = pending.order_by("id").values_list("received_at", flat=True).first()
    return {
        "mode": apply_mode(),
        "pending": pending.count(),
        "oldestPendingReceivedAt": iso(oldest),
        "failed": LineageEvent.objects.filter(state=EventState.FAILED).count(),
    }
