"""Catalog endpoints: datasets, their columns and versions. Thin: catalog.services (datasets),
catalog.columns and catalog.versions write; catalog.selectors and the search modules read."""

import time

from django.conf import settings
from django.core.paginator import Page
from django.db import connection
from django.shortcuts import get_object_or_404
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from catalog import columns, ownership, selectors, services, versions
from catalog.api.serializers import (
    ColumnSerializer,
    DatasetDetailSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    ErrorSerializer,
    VersionCreateSerializer,
    VersionSerializer,
    dataset_list_rows,
)
from catalog.files import HashingUploadHandler
from catalog.filtersets import DatasetFilterSet
from catalog.models import Column, Dataset, DatasetVersion
from catalog.search import ranked_page
from catalog.search_table import named_counts, search_page
from catalog.search_text import check_query, query_words
from catalog.visibility import hidden_ids_visible_to
from catalog.whole_file import TooLarge
from config.ids import ID_PATTERN
from config.parsers import StrictJSONParser
from config.rest import Pagination

TRUE_VALUES = {"1", "true", "yes", "on"}
MAX_PAGE = 10**9


class FacetedPagination(Pagination):
    """The usual page, plus ``facets`` beside count/next/previous/results when the view asks, and
    pages of a search given as ids with their total (``paginate_ids``)."""

    facets: dict | None = None

    def numbered_page(self, request) -> tuple[int, int] | None:
        """(page number, page size) asked for; None for the last page by name (which needs the count
        first: the generic paginator serves it)."""
        page_size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or "1"
        if not page_size or raw in self.last_page_strings:
            return None
        try:
            number = int(raw)
            # Past MAX_PAGE no page can hold a result, and its offset would overflow a database integer.
            if not 1 <= number <= MAX_PAGE:
                raise ValueError
        except ValueError:
            raise NotFound(
                self.invalid_page_message.format(page_number=raw, message="Not a page number.")
            ) from None
        return number, page_size

    def paginate_ids(self, request, ids: list[int], total: int, number: int, page_size: int) -> list[int]:
        """Page ``number`` of a search that already chose its ``ids`` and counted ``total``."""
        if not ids and number > 1:
            raise NotFound(
                self.invalid_page_message.format(page_number=number, message="That page contains no results.")
            )
        paginator = self.django_paginator_class([], page_size)
        paginator.count = total
        self.page = Page(ids, number, paginator)
        self.request = request
        return ids

    def paginate_queryset(self, queryset, request, view=None):
        """A searched list (off PostgreSQL: there the view asks the narrow table, ``_narrow_search``)
        ranks the matches and counts them in one pass (``ranked_page``), carrying only ids."""
        searched = "search_rank" in queryset.query.annotations and not queryset.query.distinct
        at = self.numbered_page(request) if searched else None
        if at is None:
            return super().paginate_queryset(queryset, request, view)
        number, page_size = at
        ids, total = ranked_page(queryset, offset=(number - 1) * page_size, limit=page_size)
        self.paginate_ids(request, ids, total if total is not None else queryset.count(), number, page_size)
        return [queryset.model(pk=pk) for pk in ids]

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if self.facets is not None:
            response.data["facets"] = self.facets
        return response

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        facet_values = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"value": {"type": "string"}, "count": {"type": "integer"}},
                "required": ["value", "count"],
            },
        }
        paginated["properties"]["facets"] = {
            "type": "object",
            "description": "Only with ?facets=true: counts over every dataset the query matches.",
            "properties": {name: facet_values for name in selectors.FACETS},
        }
        return paginated


@extend_schema_view(
    create=extend_schema(
        responses={
            201: DatasetSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                "The namespace and name (or the URN they spell) are taken, or name a deleted dataset "
                "that only its last owner, a steward of it or staff may register again",
            ),
        },
        description="Register a dataset. Naming another user as `owner` is an offer they accept "
        "(`pending_owner`), unless staff name them.",
    )
)
class DatasetViewSet(viewsets.ModelViewSet):
    """Datasets: anyone signed in reads; the owner, a steward or staff changes; staff or the owner deletes."""

    serializer_class = DatasetSerializer
    filterset_class = DatasetFilterSet
    pagination_class = FacetedPagination
    lookup_value_regex = ID_PATTERN

    def get_queryset(self):
        qs = selectors.dataset_list(user=self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related("columns")
        return qs

    def get_serializer_class(self):
        if self.action == "retrieve":
            return DatasetDetailSerializer
        if self.action in ("update", "partial_update"):
            return DatasetUpdateSerializer
        return DatasetSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "facets",
                OpenApiTypes.BOOL,
                description="Add `facets`: counts per owner, tag, domain and sensitivity for the current "
                "query and filters (computed only when asked).",
            ),
        ],
    )
    def list(self, request, *args, **kwargs):
        check_query(request.query_params.get("q", ""))
        facets = str(request.query_params.get("facets", "")).lower() in TRUE_VALUES
        ids = self._narrow_search(request, facets=facets)
        if ids is None:
            queryset = self.filter_queryset(self.get_queryset())
            if facets:
                self.paginator.facets = selectors.dataset_facets(queryset)
            # The page as ids (no owner, stewards or tags loaded as models).
            page = self.paginate_queryset(queryset.select_related(None).prefetch_related(None).only("pk"))
            ids = [d.pk for d in page]
        # The page's rows as plain dicts.
        return self.get_paginated_response(dataset_list_rows(self.get_queryset(), ids, ids_visible=True))

    def _narrow_search(self, request, *, facets: bool) -> "list[int] | None":
        """On PostgreSQL, the ids of a searched page (``?q=`` holding a word), its count and its facets
        from the narrow search table alone (``catalog.search_table.search_page``: it corrects typos
        itself), the request's other filters narrowing it; None otherwise.

        The filterset's own ``search()`` is not built at all: it would ask whether anything matches,
        and resolve a ranked queryset, that this path never runs."""
        at = self.paginator.numbered_page(request) if connection.vendor == "postgresql" else None
        if at is None or not query_words(request.query_params.get("q", "")):
            return None
        queryset = self.get_queryset()
        # Every filter checked as the filter backend checks them (a NUL in q is a 400 there too).
        filters = self.filterset_class(request.query_params, queryset=queryset, request=request)
        if not filters.is_valid():
            raise translate_validation(filters.errors)
        params = request.query_params.copy()
        q = params.pop("q")[-1]
        # Filters on values the narrow table holds filter it directly; the others as a queryset.
        where = {key: params.pop(key)[-1] for key in ("domain", "sensitivity") if params.get(key)}
        # Who may see what is the narrow table's own condition on hidden rows (hidden_seen), not
        # a subquery of the catalog table: ``within`` carries only the other filters.
        within = None
        if any(params.get(name) for name in filters.filters if name not in ("q", "domain", "sensitivity")):
            within = self.filterset_class(params, queryset=Dataset.objects.all(), request=request).qs
        number, page_size = at
        found = search_page(
            q,
            offset=(number - 1) * page_size,
            limit=page_size,
            where=where,
            within=within,
            facets=facets,
            hidden_seen=hidden_ids_visible_to(request.user),
        )
        if facets:
            self.paginator.facets = named_counts(found.counts, selectors.FACET_LIMIT)
        return self.paginator.paginate_ids(request, found.ids, found.total, number, page_size)

    def perform_create(self, serializer):
        data = serializer.service_data()
        namespace, name = data.pop("namespace"), data.pop("name")
        serializer.instance = services.create_dataset(
            actor=self.request.user, namespace=namespace, name=name, **data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_dataset(
            actor=self.request.user, dataset=serializer.instance, **serializer.service_data()
        )

    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        # Re-read so that annotations (latest_version) and prefetches are fresh.
        response.data = DatasetSerializer(self.get_queryset().get(pk=kwargs["pk"])).data
        return response

    def perform_destroy(self, instance):
        services.delete_dataset(actor=self.request.user, dataset=instance)

    def _answer_offer(self, service) -> Response:
        dataset = self.get_object()
        service(actor=self.request.user, dataset=dataset)
        return Response(DatasetSerializer(self.get_queryset().get(pk=dataset.pk)).data)

    @extend_schema(
        request=None,
        responses={
            200: DatasetSerializer,
            403: OpenApiResponse(ErrorSerializer, "Not the user the dataset was offered to"),
            409: OpenApiResponse(ErrorSerializer, "No open offer"),
        },
        description="The user a dataset was offered to (`pending_owner`) accepts it and becomes its owner.",
    )
    @action(detail=True, methods=["post"], url_path="ownership/accept")
    def accept_ownership(self, request, pk=None):
        return self._answer_offer(ownership.accept_ownership)

    @extend_schema(
        request=None,
        responses={
            200: DatasetSerializer,
            403: OpenApiResponse(ErrorSerializer, "Neither the user offered it, its owner nor staff"),
            409: OpenApiResponse(ErrorSerializer, "No open offer"),
        },
        description="The user offered the dataset declines, or its owner or staff withdraw the offer.",
    )
    @action(detail=True, methods=["post"], url_path="ownership/decline")
    def decline_ownership(self, request, pk=None):
        return self._answer_offer(ownership.decline_ownership)


class DatasetChildMixin:
    def get_dataset(self) -> Dataset:
        if not hasattr(self, "_dataset"):
            self._dataset = get_object_or_404(
                Dataset.objects.visible_to(self.request.user).defer("search_text", "search_vector"),
                pk=self.kwargs["dataset_pk"],
            )
        return self._dataset


class ColumnViewSet(
    DatasetChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A dataset's columns, paged as every list (a dataset may have up to GOUVERNAIL_MAX_COLUMNS);
    stewards document them (description, tags, PII flag)."""

    serializer_class = ColumnSerializer
    lookup_field = "name"
    # Names may hold "/" (palmerpenguins: "Delta 15 N (o/oo)"); the route still ends with "/".
    lookup_value_regex = r".+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no dataset_pk
            return Column.objects.none()
        # The dataset is read once (get_dataset) and shared by its columns, never joined into
        # every column row: its row carries the search text, which grows with the column count.
        return self.get_dataset().columns.order_by("position", "name")

    def perform_update(self, serializer):
        serializer.instance = columns.update_column(
            actor=self.request.user, column=serializer.instance, **serializer.validated_data
        )


class VersionViewSet(
    DatasetChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A dataset's versions: upload a file (multipart) or register a file:// path inside DATA_ROOTS;
    delete one (a tombstone that stays listed with ``deleted_at``)."""

    serializer_class = VersionSerializer
    lookup_field = "number"
    lookup_value_regex = ID_PATTERN
    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]

    def initialize_request(self, request, *args, **kwargs):
        # Hash and size-check uploads while they stream to disk, before DRF parses the body.
        if request.method == "POST" and not getattr(request, "_files", None):
            self._upload_handler = HashingUploadHandler(request)
            request.upload_handlers = [self._upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no dataset_pk
            return DatasetVersion.objects.none()
        return DatasetVersion.objects.filter(dataset=self.get_dataset()).order_by("-number")

    @extend_schema(
        request={"multipart/form-data": VersionCreateSerializer, "application/json": VersionCreateSerializer},
        responses={
            201: VersionSerializer,
            200: OpenApiResponse(VersionSerializer, "Same bytes as the latest version: no new version"),
            400: OpenApiResponse(
                ErrorSerializer,
                "Unreadable file (empty, binary, ragged rows, not UTF-8, truncated gzip...), past a limit "
                "(columns, expansion ratio, JSON depth) or bad path",
            ),
            403: OpenApiResponse(ErrorSerializer, "Not the owner, a steward or staff"),
            413: OpenApiResponse(
                ErrorSerializer, "Larger than GOUVERNAIL_MAX_VERSION_BYTES, as sent or once decompressed"
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        # Refuse a body that cannot fit before reading it; one whose length was not announced is
        # cut off by HashingUploadHandler as soon as it passes the limit.
        limit = settings.GOUVERNAIL_MAX_VERSION_BYTES
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            announced = 0
        if announced > limit + 1024 * 1024:  # multipart framing is a few hundred bytes
            return self._too_large(limit)
        handler = getattr(self, "_upload_handler", None)
        started = time.perf_counter()
        data = request.data  # the body streams in here: parsed, hashed, spooled to disk
        received = time.perf_counter()
        if handler is not None and handler.too_large:
            return self._too_large(limit)
        serializer = VersionCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        try:
            if serializer.validated_data.get("file") is not None:
                version, created = versions.add_version_from_upload(
                    actor=request.user, dataset=dataset, upload=serializer.validated_data["file"]
                )
            else:
                version, created = versions.add_version_from_uri(
                    actor=request.user, dataset=dataset, uri=serializer.validated_data["uri"]
                )
        except TooLarge as exc:  # past the size limit once decompressed
            return Response(
                {"detail": " ".join(exc.messages), "errors": exc.message_dict},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        stored = time.perf_counter()
        response = Response(
            VersionSerializer(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        if handler is not None and handler.received:
            # Where an upload's time went (browsers' dev tools and the upload benchmark read it):
            # receiving the body (of which hashing), then checking and storing the file.
            response["Server-Timing"] = (
                f"sha256;dur={handler.hash_seconds * 1000:.1f}, receive;dur={(received - started) * 1000:.1f}, "
                f"check-and-store;dur={(stored - received) * 1000:.1f}"
            )
        return response

    @extend_schema(
        responses={
            204: None,
            403: OpenApiResponse(ErrorSerializer, "Not the owner or staff"),
            404: OpenApiResponse(ErrorSerializer, "No such dataset or version"),
            410: OpenApiResponse(ErrorSerializer, "Already deleted"),
        },
        description=(
            "Delete the version's data: its stored file and every value derived from it (profile, "
            "quality result, drift against it). The version stays listed with its checksum and "
            '`"deleted_at"`; its number is not reused. Owner or staff.'
        ),
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        versions.delete_version(actor=self.request.user, version=instance, via="api")

    @staticmethod
    def _too_large(limit: int) -> Response:
        return Response(
            {
                "detail": f"The file is larger than the limit of {limit} bytes (GOUVERNAIL_MAX_VERSION_BYTES).",
                "errors": {"file": [f"Larger than {limit} bytes."]},
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
