"""Lineage endpoints: OpenLineage in, Marquez-shaped answers out.

Thin: ``lineage.ingest`` stores events; each read endpoint calls ``fold.catch_up_for_read()`` once,
then reads (lineage.marquez, impact, paths, column_lineage, history, selectors), which never write.
"""

import gzip
import json
import zlib

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from config.authentication import BearerOrTokenAuthentication
from config.errors import Conflict, NotAllowed
from config.ids import parse_id
from lineage import fold, history, ingest, selectors
from lineage.column_lineage import column_lineage
from lineage.export import DotRenderer, FastJSONRenderer, GraphMLRenderer
from lineage.hidden_nodes import (
    HiddenFrom,
    events_without_hidden,
    redact_graph,
    redact_impact,
    redact_path,
    redact_run,
)
from lineage.impact import impact
from lineage.marquez import lineage_graph
from lineage.models import EventState, LineageEvent
from lineage.nodes import check_node_id
from lineage.paths import path_between
from lineage.spec import parse_event_time
from lineage.walks import MAX_DEPTH

GRAPH_RENDERERS = [FastJSONRenderer, GraphMLRenderer, DotRenderer]
# What ingest_event refuses an event with; anything else is an error, raised as DRF's cycle would.
_REFUSALS = (ValidationError, PermissionDenied, APIException, Conflict, NotAllowed)
FORMAT_PARAM = OpenApiParameter("format", str, enum=["json", "graphml", "dot"], description="Export format.")


def _max_bytes() -> int:
    return int(getattr(settings, "LINEAGE_MAX_EVENT_BYTES", 5 * 1024 * 1024))


def _int_param(request, name: str, default: int, *, lo: int = 0, hi: int = MAX_DEPTH) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"Must be an integer (got {raw[:30]!r})."]}) from None
    if not lo <= value <= hi:
        raise ValidationError({name: [f"Must be between {lo} and {hi}."]})
    return value


def _node_param(request, name: str = "nodeId") -> str:
    value = request.query_params.get(name)
    if not value:
        raise ValidationError({name: ["This parameter is required."]})
    return check_node_id(value, name)


class _GraphSerializer(serializers.Serializer):
    graph = serializers.ListField(child=serializers.DictField())


class _EventAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created = serializers.BooleanField()
    kind = serializers.CharField()


def _too_large(limit: int) -> Response:
    return Response(
        {
            "detail": f"The event is larger than {limit} bytes (LINEAGE_MAX_EVENT_BYTES).",
            "errors": {"body": [f"At most {limit} bytes."]},
        },
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _read_body(request) -> bytes | Response:
    """The request body, bounded by LINEAGE_MAX_EVENT_BYTES (before and after gzip) → bytes, or a 413
    (too large) or 411 (chunked, without a length) answer."""
    limit = _max_bytes()
    if (
        not request.META.get("CONTENT_LENGTH")
        and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    ):
        # WSGI hands Django no length, and Django then reads no body: say so rather than "not JSON".
        return Response(
            {
                "detail": "Send the event with a Content-Length header: a chunked body is not read.",
                "errors": {"body": ["Content-Length required."]},
            },
            status=status.HTTP_411_LENGTH_REQUIRED,
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return _too_large(limit)
    try:
        raw = request.body
    except RequestDataTooBig:
        return _too_large(limit)
    if len(raw) > limit:
        return _too_large(limit)
    if request.META.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise ValidationError(
                {"body": [f"Content-Encoding gzip, but the body is not gzip: {exc}"]}
            ) from None
        if len(raw) > limit:
            return _too_large(limit)
    return raw


def _accepted(event, created: bool) -> tuple[dict, int]:
    """The answer to a stored event (both POST paths): 201, or 200 when it was stored before."""
    return (
        {"id": event.pk, "created": created, "kind": event.kind},
        status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class LineageView(APIView):
    """``POST`` one OpenLineage event; ``GET`` the lineage around a node, as Marquez answers."""

    renderer_classes = GRAPH_RENDERERS
    # Pipelines post events in bursts far above API_WRITE_RATE; ingestion has limits of its own
    # (event size, datasets per event, fields per schema facet) and a direct path without DRF.
    throttle_classes = ()

    def perform_content_negotiation(self, request, force=False):
        """A POST answers JSON whatever Accept or ?format= ask for: the graph formats are for reads,
        and an event stored must not be answered in a type its client cannot parse."""
        if request.method == "POST":
            renderer = FastJSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            answer = self._post_directly(request)
            if answer is not None:
                return answer
        return super().dispatch(request, *args, **kwargs)

    def _post_directly(self, request) -> HttpResponse | None:
        """The hot path of ingestion without DRF's request cycle (a good share of an event's CPU,
        docs/benchmarks.md): a well-formed event, posted with a token, is stored and
        answered here, with the same authentication class and the same answer as ``post``. Anything
        else (no token, a refused one, a body too large or not valid OpenLineage) returns None and goes
        through DRF's own cycle, which answers it as every endpoint does; the event is only stored
        once either way (its hash makes a retry a no-op)."""
        authenticator = BearerOrTokenAuthentication()
        try:
            found = authenticator.authenticate(request)
            if found is None:
                return None
            raw = _read_body(request)
            if isinstance(raw, Response):
                return None
            body = json.loads(raw)
        except Exception:  # noqa: BLE001 -- nothing stored yet: DRF's cycle answers the refusal itself
            return None
        try:
            event, created = ingest.ingest_event(body=body, actor=found[0])
        except _REFUSALS:  # refused before anything is stored (or rolled back): DRF answers it
            return None
        request.user = found[0]
        data, code = _accepted(event, created)
        answer = HttpResponse(
            json.dumps(data, separators=(",", ":")), status=code, content_type="application/json"
        )
        answer["Allow"] = ", ".join(self.allowed_methods)
        answer["Vary"] = "Accept"
        return answer

    @extend_schema(
        operation_id="lineage_event_create",
        summary="Take one OpenLineage RunEvent, DatasetEvent or JobEvent",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            201: _EventAcceptedSerializer,
            200: OpenApiResponse(_EventAcceptedSerializer, description="The same event was already stored."),
            400: OpenApiResponse(description="Not valid OpenLineage: errors name the field path."),
            413: OpenApiResponse(description="Body over LINEAGE_MAX_EVENT_BYTES."),
        },
    )
    def post(self, request, *args, **kwargs):
        raw = _read_body(request)
        if isinstance(raw, Response):
            return raw
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError({"body": [f"Malformed JSON: {exc}"]}) from None
        except RecursionError:
            raise ValidationError({"body": ["Malformed JSON: nested too deeply."]}) from None
        event, created = ingest.ingest_event(body=body, actor=request.user)
        data, code = _accepted(event, created)
        return Response(data, status=code)

    @extend_schema(
        operation_id="lineage_graph",
        summary="The lineage graph around a node (Marquez shape)",
        parameters=[
            OpenApiParameter(
                "nodeId", str, required=True, description="dataset:<ns>:<name>, job:..., model:..."
            ),
            OpenApiParameter("depth", int, description="Hops in each direction (default 20)."),
            OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"]),
            OpenApiParameter(
                "fullJobIO",
                bool,
                description="Jobs list all their current datasets in data.inputs/outputs, not only those "
                "inside the answer (as Marquez; slower on large answers).",
            ),
            FORMAT_PARAM,
        ],
        responses={200: _GraphSerializer, 404: OpenApiResponse(description="Unknown node.")},
    )
    def get(self, request, *args, **kwargs):
        """The lineage graph around a node, as Marquez answers it.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        node_id = _node_param(request)
        depth = _int_param(request, "depth", 20)
        direction = request.query_params.get("direction") or "both"
        if direction not in ("upstream", "downstream", "both"):
            raise ValidationError({"direction": ["Must be upstream, downstream or both."]})
        full = request.query_params.get("fullJobIO", "").lower() in ("1", "true", "yes")
        fold.catch_up_for_read()
        graph = lineage_graph(node_id, depth=depth, direction=direction, full_job_io=full)
        # Hidden datasets the user may not see become "hidden dataset" nodes; one asked about is unknown.
        graph = redact_graph(graph, user=request.user, start=node_id)
        if graph is None:
            raise Http404(f"Unknown node: {node_id}.")
        if request.accepted_renderer.format == "json":
            # The common case: JSON bytes straight from the read, no DRF rendering pass.
            return HttpResponse(orjson.dumps(graph), content_type="application/json")
        return Response(graph)


class ColumnLineageView(APIView):
    renderer_classes = GRAPH_RENDERERS

    @extend_schema(
        operation_id="column_lineage",
        summary="Column lineage around datasetField:<ns>:<name>:<field> (Marquez shape)",
        parameters=[
            OpenApiParameter("nodeId", str, required=True),
            OpenApiParameter("depth", int),
            OpenApiParameter("withDownstream", bool),
            FORMAT_PARAM,
        ],
        responses={200: _GraphSerializer, 404: OpenApiResponse(description="Unknown field.")},
    )
    def get(self, request):
        """Column lineage around a dataset field, or every known field of a dataset.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        node_id = request.query_params.get("nodeId")
        if not node_id:
            raise ValidationError({"nodeId": ["This parameter is required."]})
        depth = _int_param(request, "depth", 20)
        downstream = request.query_params.get("withDownstream", "").lower() in ("1", "true", "yes")
        fold.catch_up_for_read()
        graph = redact_graph(
            column_lineage(node_id, depth=depth, with_downstream=downstream), user=request.user, start=node_id
        )
        if graph is None:
            raise Http404(f"Unknown dataset field: {node_id}.")
        return Response(graph)


class ImpactView(APIView):
    renderer_classes = GRAPH_RENDERERS

    @extend_schema(
        operation_id="lineage_impact",
        summary="Everything downstream of a node, by distance, with whom to tell",
        parameters=[
            OpenApiParameter("nodeId", str, required=True),
            OpenApiParameter("depth", int),
            FORMAT_PARAM,
        ],
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="Unknown node.")},
    )
    def get(self, request):
        """Everything downstream of a node, by distance, with whom to tell.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        node_id = _node_param(request)
        depth = _int_param(request, "depth", 20)
        fold.catch_up_for_read()
        answer = redact_impact(impact(node_id, depth=depth), user=request.user, start=node_id)
        if answer is None:
            raise Http404(f"Unknown node: {node_id}.")
        return Response(answer)


class PathView(APIView):
    renderer_classes = GRAPH_RENDERERS

    @extend_schema(
        operation_id="lineage_path",
        summary="A shortest path between two nodes",
        parameters=[
            OpenApiParameter("from", str, required=True),
            OpenApiParameter("to", str, required=True),
            OpenApiParameter("depth", int),
            FORMAT_PARAM,
        ],
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="Unknown node.")},
    )
    def get(self, request):
        """A shortest path between two nodes.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        a, b = _node_param(request, "from"), _node_param(request, "to")
        depth = _int_param(request, "depth", 50)
        fold.catch_up_for_read()
        answer = redact_path(path_between(a, b, depth=depth), user=request.user)
        if answer is None:
            raise Http404("Unknown node.")
        return Response(answer)


class LineageRunIOSerializer(serializers.Serializer):
    runId = serializers.CharField(source="run.run_id")  # noqa: N815
    job = serializers.CharField(source="run.job.key")
    state = serializers.CharField(source="run.state")
    startedAt = serializers.DateTimeField(source="run.started_at")  # noqa: N815
    endedAt = serializers.DateTimeField(source="run.ended_at")  # noqa: N815
    direction = serializers.CharField()
    version = serializers.CharField(source="version_label")
    catalogVersion = serializers.IntegerField(source="version_number")  # noqa: N815


class DatasetRunsView(generics.ListAPIView):
    """History: the runs that wrote (output) and read (input) a dataset or model, newest first."""

    serializer_class = LineageRunIOSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return history.runs_of_dataset(None)
        node = selectors.dataset_node_for(self.kwargs["ref"])
        if node is not None and HiddenFrom(self.request.user).node(
            {"type": "DATASET", "id": node.key, "data": {"catalogId": node.dataset_id}}
        ):
            node = None  # a hidden dataset the user may not see: as unknown
        if node is None:
            raise Http404(f"No lineage for {self.kwargs['ref']}.")
        direction = self.request.query_params.get("direction")
        if direction and direction not in ("input", "output"):
            raise ValidationError({"direction": ["Must be input or output."]})
        version = self.request.query_params.get("version")
        number = parse_id(version) if version else None
        if version and number is None:
            raise ValidationError(
                {"version": [f"A catalog version number, in digits 0-9 (got {version[:30]!r})."]}
            )
        return history.runs_of_dataset(node, direction=direction, version=number)

    @extend_schema(
        operation_id="lineage_dataset_runs",
        summary="Runs that wrote and read a dataset (by catalog id or URN)",
        parameters=[
            OpenApiParameter("direction", str, enum=["input", "output"]),
            OpenApiParameter("version", int, description="Only runs that read/wrote this catalog version."),
        ],
    )
    def get(self, request, *args, **kwargs):
        """Runs that wrote and read a dataset, newest first.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        fold.catch_up_for_read()
        return super().get(request, *args, **kwargs)


class RunDetailView(APIView):
    @extend_schema(
        operation_id="lineage_run",
        summary="A run with what it read and wrote",
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="Unknown run.")},
    )
    def get(self, request, run_id: str):
        """A run with what it read and wrote.

        Consistency: the answer reflects every lineage event accepted before the request when the
        pending ones fold within LINEAGE_READ_FOLD_SECONDS of the request's start; otherwise it comes
        from the graph as folded so far, on time, with ``X-Lineage-Pending: <events not folded yet>``
        (one explicit catch-up, before reading: the reads themselves never fold; docs/lineage.md,
        "What a read promises").
        """
        fold.catch_up_for_read()
        answer = redact_run(history.run_detail(run_id), user=request.user)
        if answer is None:
            raise Http404(f"Unknown run: {run_id}.")
        return Response(answer)


class _BacklogSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["sync", "deferred"])
    pending = serializers.IntegerField()
    oldestPendingReceivedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    failed = serializers.IntegerField()


class BacklogView(APIView):
    """How far the graph is behind the record (LINEAGE_APPLY=deferred): for monitoring the folder.

    Consistency: the backlog as it stands at the request; looking at it folds nothing."""

    @extend_schema(
        operation_id="lineage_backlog",
        summary="Events not folded into the graph yet, and events the graph refused",
        responses={200: _BacklogSerializer},
    )
    def get(self, request):
        return Response(history.backlog())


class LineageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LineageEvent
        fields = [
            "id",
            "kind",
            "event_type",
            "event_time",
            "run_id",
            "job_key",
            "producer",
            "received_at",
            "state",
            "error",
            "body",
        ]


class EventListView(generics.ListAPIView):
    """The raw record, newest first: every accepted event as received, less those naming a dataset
    hidden from the caller (docs/governance.md, "Hidden datasets").

    Consistency: every event accepted before the request is listed, folded or not (its ``state``
    says which); listing folds nothing."""

    serializer_class = LineageEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no request, no database
            return LineageEvent.objects.none()
        p = self.request.query_params
        times = {}
        for name in ("since", "until"):
            if p.get(name):
                try:
                    times[name] = parse_event_time(p[name])
                except ValueError:
                    raise ValidationError({name: ["Must be an ISO-8601 date-time."]}) from None
        state = p.get("state")
        if state and state not in EventState.values:
            raise ValidationError({"state": [f"Must be one of {', '.join(EventState.values)}."]})
        events = history.events(
            run_id=p.get("runId"), job=p.get("job"), event_type=p.get("eventType"), state=state, **times
        )
        # Events naming a dataset hidden from the caller are left out (docs/governance.md).
        return events_without_hidden(events, user=self.request.user)

    @extend_schema(
        operation_id="lineage_events",
        summary="Raw OpenLineage events as received (paginated)",
        parameters=[
            OpenApiParameter("runId", str),
            OpenApiParameter("job", str, description="job:<ns>:<name>"),
            OpenApiParameter("eventType", str),
            OpenApiParameter(
                "state",
                str,
                enum=["applied", "pending", "failed"],
                description="pending: not folded into the graph yet; failed: refused by the graph (see error).",
            ),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
