"""Sources endpoints (API.md, "Sources"). Thin: catalog.sources and catalog.scans write and decide
who may; every signed-in user may list sources and read their scans (as datasets are listed)."""

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog import scans, sources
from catalog.api.source_serializers import (
    ScanSerializer,
    ScanStartedSerializer,
    SourceSerializer,
    SourceTestSerializer,
    SourceWriteSerializer,
)
from catalog.models import Source, SourceScan
from catalog.source_selectors import without_hidden_errors
from catalog.visibility import visible_datasets_q
from config.ids import ID_PATTERN


class SourceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where data lives, catalogued in place: PostgreSQL databases, S3 prefixes, folders."""

    serializer_class = SourceSerializer
    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (
            Source.objects.select_related("owner")
            .prefetch_related("stewards")
            # Hidden datasets are counted only for those who may see them (catalog.visibility).
            .annotate(dataset_count=Count("datasets", filter=visible_datasets_q(self.request.user)))
            .order_by("name")
        )

    @extend_schema(request=SourceWriteSerializer, responses={201: SourceSerializer})
    def create(self, request, *args, **kwargs):
        body = SourceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source = sources.create_source(actor=request.user, **body.validated_data)
        out = SourceSerializer(self.get_queryset().get(pk=source.pk), context={"request": request})
        return Response(out.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SourceWriteSerializer, responses={200: SourceSerializer})
    def partial_update(self, request, *args, **kwargs):
        body = SourceWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        source = sources.update_source(actor=request.user, source=self.get_object(), **body.validated_data)
        return Response(
            SourceSerializer(self.get_queryset().get(pk=source.pk), context={"request": request}).data
        )

    def destroy(self, request, *args, **kwargs):
        sources.delete_source(actor=request.user, source=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SourceTestSerializer})
    @action(detail=True, methods=["post"], url_path="test")
    def test(self, request, pk=None):
        """Connect and list what a scan would register (the first names), writing nothing."""
        return Response(sources.test_source(actor=request.user, source=self.get_object()))

    @extend_schema(responses={200: ScanSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="scans")
    def scans(self, request, pk=None):
        """The source's scan history, newest first."""
        source = self.get_object()
        page = self.paginate_queryset(source.scans.select_related("requested_by").order_by("-id"))
        page = without_hidden_errors(list(page), user=request.user, source_id=source.pk)
        return self.get_paginated_response(ScanSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: ScanStartedSerializer})
    @scans.mapping.post
    def start_scan(self, request, pk=None):
        """Scan now (202): the scan already waiting or running, if any, else a new one."""
        scan = scans.request_scan(actor=request.user, source=self.get_object())
        return Response({"id": scan.pk, "status": scan.status}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ScanSerializer})
    @action(detail=True, methods=["get"], url_path=rf"scans/(?P<scan_id>{ID_PATTERN})")
    def scan(self, request, pk=None, scan_id=None):
        """One scan: status, progress and counts (registered, changed, unchanged, removed, errors)."""
        scan = get_object_or_404(SourceScan.objects.select_related("requested_by"), pk=scan_id, source_id=pk)
        # Errors naming a dataset hidden from the caller are left out (docs/governance.md).
        scan = without_hidden_errors(scan, user=request.user, source_id=scan.source_id)
        return Response(ScanSerializer(scan).data)
