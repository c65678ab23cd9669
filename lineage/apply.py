"""Applying one stored OpenLineage event to the graph: its job, its run, the run's inputs and outputs,
the job's current edges and column lineage.

The same code runs within the request (LINEAGE_APPLY=sync) and in the folder (lineage.fold), so both
modes build the same graph. Events may arrive in any order: a run's state and times are folded from
whatever has been seen, and only a job's latest run decides its current edges.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q

from lineage import permissions, signals
from lineage.apply_facets import apply_dataset_facets, apply_job_facets, match_version
from lineage.apply_nodes import job_node, locked_run, resolve_datasets
from lineage.models import ColumnEdge, Direction, Edge, EventKind, Node, NodeKind, Run, RunIO, RunState
from lineage.spec import parse_event_time

log = logging.getLogger(__name__)

_TERMINAL = {"COMPLETE": RunState.COMPLETED, "FAIL": RunState.FAILED, "ABORT": RunState.ABORTED}


@dataclass
class EventContext:
    """What one event's processing collects for after-commit hooks."""

    emit_model_signal: bool = True
    # Who posted the event (a user, or None for the system): decides whether a schema facet may
    # rewrite a curated dataset's columns.
    actor: Any = None
    model_outputs: list[tuple[Node, str | None]] = field(default_factory=list)


def apply_event(kind: str, body: dict, event_time: datetime, ctx: EventContext) -> None:
    """Apply one validated event (RunEvent, JobEvent or DatasetEvent) to the graph."""
    if kind == EventKind.RUN:
        _apply_run_event(body, event_time, ctx)
    elif kind == EventKind.JOB:
        _apply_job_event(body, ctx.actor)
    else:
        _apply_dataset_event(body, ctx.actor)


def _run_facet_time(facets: dict, name: str, key: str) -> datetime | None:
    facet = facets.get(name) if isinstance(facets, dict) else None
    value = facet.get(key) if isinstance(facet, dict) else None
    try:
        return parse_event_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _fold_run(run: Run, event_type: str, event_time: datetime, facets: dict) -> None:
    """Fold one event into the run's state and times, whatever the order events arrive in."""
    if event_type == "START":
        run.started_at = min(run.started_at, event_time) if run.started_at else event_time
        run.begun_at = run.started_at
    else:
        run.begun_at = min(run.begun_at, event_time) if run.started_at is None else run.begun_at
    terminal = _TERMINAL.get(event_type)
    if terminal is not None:
        if run.state_time is None or run.state not in _TERMINAL.values() or event_time >= run.state_time:
            run.state, run.state_time, run.ended_at = terminal, event_time, event_time
    elif event_type in ("START", "RUNNING") and run.state not in _TERMINAL.values():
        if run.state_time is None or event_time >= run.state_time:
            run.state, run.state_time = RunState.RUNNING, event_time
    if isinstance(facets, dict) and facets:
        run.facets = {**run.facets, **facets}
        run.nominal_start_time = _run_facet_time(facets, "nominalTime", "nominalStartTime") or (
            run.nominal_start_time
        )
        run.nominal_end_time = (
            _run_facet_time(facets, "nominalTime", "nominalEndTime") or run.nominal_end_time
        )


def _dataset_specs(body: dict) -> list[tuple[str, str, str, dict, dict]]:
    """(direction, namespace, name, dataset facets, input/output facets) of an event's datasets."""
    out = []
    for side, direction, extra in (
        ("inputs", Direction.INPUT, "inputFacets"),
        ("outputs", Direction.OUTPUT, "outputFacets"),
    ):
        for ds in body.get(side) or []:
            out.append((direction, ds["namespace"], ds["name"], ds.get("facets") or {}, ds.get(extra) or {}))
    return out


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _column_lineage_refs(specs) -> list[tuple[str, str, dict]]:
    refs = []
    for direction, _ns, _name, facets, _extra in specs:
        cl = facets.get("columnLineage") if direction == Direction.OUTPUT else None
        fields = cl.get("fields") if isinstance(cl, dict) else None
        for spec in fields.values() if isinstance(fields, dict) else []:
            for inp in _as_list(spec.get("inputFields")) if isinstance(spec, dict) else []:
                if (
                    isinstance(inp, dict)
                    and isinstance(inp.get("namespace"), str)
                    and isinstance(inp.get("name"), str)
                ):
                    if (
                        inp["namespace"].strip()
                        and inp["name"].strip()
                        and len(inp["namespace"]) <= 255
                        and len(inp["name"]) <= 255
                    ):
                        refs.append((inp["namespace"], inp["name"], {}))
    return refs


def _apply_run_event(body: dict, event_time: datetime, ctx: EventContext) -> None:
    job = job_node(body["job"]["namespace"], body["job"]["name"])
    apply_job_facets(job, body["job"].get("facets") or {})
    run_id = body["run"]["runId"].lower()
    event_type = body.get("eventType") or ""
    run, existing = locked_run(run_id)
    if run is None:
        run = Run(run_id=run_id, job=job, begun_at=event_time)
    elif run.job_id != job.pk:
        raise ValidationError({"run.runId": [f"This run belongs to another job ({run.job.key})."]})
    _fold_run(run, event_type, event_time, body["run"].get("facets") or {})
    run.save()
    if run.pk == job.latest_run_id:
        job.latest_begun = run.begun_at  # the job object may serve the batch's next events

    specs = _dataset_specs(body)
    nodes = resolve_datasets(
        [(ns, name, facets) for _d, ns, name, facets, _x in specs] + _column_lineage_refs(specs), ctx.actor
    )
    io_changed = False
    created: list[RunIO] = []
    # Node rows (facets) and catalog rows are written in node-key order: two events naming the same
    # datasets in different orders never wait on each other crosswise (deadlock).
    for direction, ns, name, facets, extra in sorted(specs, key=lambda sp: nodes[(sp[1], sp[2])].key):
        node = nodes[(ns, name)]
        apply_dataset_facets(node, facets, ctx.actor)
        label, number = match_version(node, facets)
        merged = {**facets, **extra}
        io = existing.get((node.pk, direction))
        if io is None:
            io = RunIO(
                run=run,
                node=node,
                direction=direction,
                version_label=label,
                version_number=number,
                facets=merged,
            )
            created.append(io)
            existing[(node.pk, direction)] = io
            io_changed = True
        elif (label and (label, number) != (io.version_label, io.version_number)) or merged != io.facets:
            io.version_label, io.version_number = (
                label or io.version_label,
                number if label else io.version_number,
            )
            io.facets = {**io.facets, **merged}
            if io.pk is not None:  # else named twice in this event: inserted below, merged
                io.save(update_fields=["version_label", "version_number", "facets"])
        if direction == Direction.OUTPUT and node.kind == NodeKind.MODEL and event_type in ("COMPLETE", ""):
            ctx.model_outputs.append((node, label or None))

    if created:
        RunIO.objects.bulk_create(created)

    if job.latest_run_id is None or job.latest_run_id == run.pk:
        is_latest = True
    else:
        latest_begun = getattr(job, "latest_begun", None)
        is_latest = latest_begun is None or (run.begun_at, run.pk) >= (latest_begun, job.latest_run_id)
    if is_latest:
        became_latest = job.latest_run_id != run.pk
        if became_latest:
            Node.objects.filter(pk=job.pk).update(latest_run=run)
            job.latest_run, job.latest_begun = run, run.begun_at
        had_column_edges = True
        if became_latest or io_changed:
            had_column_edges = _set_current_edges(
                job, [(io.node_id, d) for (_n, d), io in existing.items()], ctx.actor
            )
        _set_column_edges(job, specs, nodes, replace_all=became_latest and had_column_edges)

    if ctx.model_outputs and ctx.emit_model_signal:
        _send_model_signals(run, job, ctx.model_outputs, actor=ctx.actor)


def _send_model_signals(run: Run, job: Node, outputs: list[tuple[Node, str | None]], *, actor=None) -> None:
    inputs = []
    for io in run.io.filter(direction=Direction.INPUT).select_related("node"):
        if io.node.dataset_id is not None:
            inputs.append((io.node.dataset_id, io.version_number))
    for node, version in outputs:
        kwargs = {
            "namespace": node.namespace,
            "name": node.name,
            "version": version,
            "run_id": run.run_id,
            "job": job.key,
            "inputs": list(inputs),
            "actor": actor,  # who posted the event
        }
        transaction.on_commit(lambda kw=kwargs: signals.model_output_recorded.send(sender=Node, **kw))


_JOB_EDGES = (
    "SELECT src, dst FROM lineage_edge WHERE src = %s OR dst = %s"
    # One more row (NULL, NULL) when the job has column lineage: a run that becomes the latest
    # replaces it, and most jobs have none (this saves a DELETE per run for them).
    " UNION ALL SELECT NULL, NULL WHERE EXISTS (SELECT 1 FROM lineage_columnedge WHERE job_id = %s)"
)


def _set_current_edges(job: Node, io: list[tuple[int, str]], actor=None) -> bool:
    """Make the job's current edges those of the given run inputs/outputs (applying only the diff)
    → whether the job had column lineage edges. Edges the poster may not take away stay
    (lineage.permissions.guarded_edges)."""
    wanted = {(n, job.pk) if d == Direction.INPUT else (job.pk, n) for n, d in io}
    with connection.cursor() as cur:
        cur.execute(_JOB_EDGES, [job.pk, job.pk, job.pk])
        rows = cur.fetchall()
    have = {r for r in rows if r[0] is not None}
    has_column_edges = len(have) != len(rows)
    gone = have - wanted
    kept = permissions.guarded_edges(job, gone, actor)
    if kept:
        log.warning(
            "lineage: %s posted a run of %s without %d of its edges; they stay: data upstream is "
            "confidential or restricted and only its owners, stewards or staff take them away",
            getattr(actor, "username", None) or "an unknown user",
            job.key,
            len(kept),
        )
        gone = gone - kept
    if gone:
        cond = Q()
        for src, dst in gone:
            cond |= Q(src=src, dst=dst)
        Edge.objects.filter(cond).delete()
    new = wanted - have
    if new:
        Edge.objects.bulk_create([Edge(src=s, dst=d) for s, d in sorted(new)], ignore_conflicts=True)
    if gone or new:
        signals.send_graph_changed_on_commit()
    return has_column_edges


def _set_column_edges(job: Node, specs, nodes: dict, *, replace_all: bool) -> None:
    """Current column lineage of the job: each output's columnLineage facet replaces what it said before."""
    if replace_all:
        ColumnEdge.objects.filter(job=job).delete()
    rows = []
    for direction, ns, name, facets, _extra in specs:
        cl = facets.get("columnLineage") if direction == Direction.OUTPUT else None
        fields = cl.get("fields") if isinstance(cl, dict) else None
        if not isinstance(fields, dict):
            continue
        out_node = nodes[(ns, name)]
        ColumnEdge.objects.filter(job=job, out_node=out_node).delete()
        for out_field, spec in fields.items():
            if not isinstance(spec, dict):
                continue
            for inp in _as_list(spec.get("inputFields")):
                in_node = (
                    nodes.get((inp.get("namespace"), inp.get("name"))) if isinstance(inp, dict) else None
                )
                if in_node is None or not isinstance(inp.get("field"), str):
                    continue
                transformations = _as_list(inp.get("transformations"))
                first = transformations[0] if transformations and isinstance(transformations[0], dict) else {}
                rows.append(
                    ColumnEdge(
                        job=job,
                        out_node=out_node,
                        out_field=str(out_field)[:1024],
                        in_node=in_node,
                        in_field=inp["field"][:1024],
                        transformation_type=str(first.get("type") or spec.get("transformationType") or "")[
                            :50
                        ],
                        transformation_subtype=str(first.get("subtype") or "")[:50],
                        transformation_description=str(
                            first.get("description") or spec.get("transformationDescription") or ""
                        ),
                    )
                )
    if rows:
        ColumnEdge.objects.bulk_create(rows)


def _apply_job_event(body: dict, actor=None) -> None:
    """A JobEvent declares a job's metadata and IO; the IO draws edges only while it has no run."""
    job = job_node(body["job"]["namespace"], body["job"]["name"])
    apply_job_facets(job, body["job"].get("facets") or {})
    specs = _dataset_specs(body)
    nodes = resolve_datasets(
        [(ns, name, facets) for _d, ns, name, facets, _x in specs] + _column_lineage_refs(specs), actor
    )
    for _d, ns, name, facets, _x in sorted(specs, key=lambda sp: nodes[(sp[1], sp[2])].key):
        apply_dataset_facets(nodes[(ns, name)], facets, actor)
    if job.latest_run_id is None and specs:
        _set_current_edges(job, [(nodes[(ns, name)].pk, d) for d, ns, name, _f, _x in specs], actor)
        _set_column_edges(job, specs, nodes, replace_all=True)


def _apply_dataset_event(body: dict, actor=None) -> None:
    ds = body["dataset"]
    facets = ds.get("facets") or {}
    node = resolve_datasets([(ds["namespace"], ds["name"], facets)], actor)[(ds["namespace"], ds["name"])]
    apply_dataset_facets(node, facets, actor)
