"""Profiling endpoints: profiles (read, re-run), expectation suites, quality history.

Thin: services write, selectors read. Reading needs only to be signed in (catalog metadata is
visible to all users); re-running and changing suites is for the owner, a steward or staff.
"""

import json

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Dataset, DatasetVersion
from catalog.versions import check_not_deleted
from config.parsers import StrictJSONParser, unstorable_text
from config.rest import Pagination
from profiling import jobs, privacy_budget, selectors, suites
from profiling.api.serializers import (
    DPProfileSerializer,
    GovernanceWarningSerializer,
    GXSuiteExportSerializer,
    ProfileSerializer,
    QualityHistoryPageSerializer,
    SuiteFileSerializer,
    SuiteSerializer,
    SuiteWriteSerializer,
)
from profiling.visibility import profile_for_viewer, quality_history_for_viewer, suite_for_viewer

ERROR = OpenApiResponse(description='{"detail": "...", "errors": {field: [messages]}}')


class DatasetScopedView(APIView):
    def get_dataset(self) -> Dataset:
        return get_object_or_404(Dataset.objects.visible_to(self.request.user), pk=self.kwargs["dataset_pk"])

    def get_version(self) -> DatasetVersion:
        return get_object_or_404(
            DatasetVersion.objects.select_related("dataset"),
            dataset=self.get_dataset(),
            number=self.kwargs["number"],
        )


class ProfileView(DatasetScopedView):
    """A version's profile: statistics, quality, bias, PII, drift and the job's state."""

    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                component_name="ProfileAnswer",
                serializers=[ProfileSerializer, DPProfileSerializer],
                resource_type_field_name=None,
            ),
            404: ERROR,
            410: ERROR,
        },
        summary="A version's profile (410: deleted)",
        description=(
            "The exact profile, or for a caller without clearance on a confidential or restricted "
            'dataset a differentially private release (`"release": "dp"`, docs/privacy.md).'
        ),
    )
    def get(self, request, dataset_pk: int, number: int):
        version = self.get_version()
        check_not_deleted(version)
        # A viewer without clearance gets the differentially private release (docs/privacy.md).
        return Response(privacy_budget.profile_answer_for(user=request.user, version=version))

    @extend_schema(
        request=None,
        responses={202: ProfileSerializer, 403: ERROR, 404: ERROR, 409: ERROR, 410: ERROR},
        summary="Profile the version again",
        description="Queues a new profiling job (owner, steward or staff). 409 while one is running.",
    )
    def post(self, request, dataset_pk: int, number: int):
        version = self.get_version()
        jobs.request_rerun(actor=request.user, version=version)
        answer = profile_for_viewer(
            selectors.profile_answer(version), user=request.user, dataset=version.dataset
        )
        return Response(answer, status=status.HTTP_202_ACCEPTED)


class ProfileWarningsView(DatasetScopedView):
    @extend_schema(
        responses={200: GovernanceWarningSerializer(many=True), 404: ERROR},
        summary="Governance warnings of a version's profile (e.g. PII in a public dataset)",
    )
    def get(self, request, dataset_pk: int, number: int):
        version = self.get_version()
        check_not_deleted(version)
        profile = profile_for_viewer(
            selectors.profile_answer(version), user=request.user, dataset=version.dataset
        )
        return Response(profile["governance_warnings"])


class ExpectationSuiteView(DatasetScopedView):
    """The dataset's expectation suite in Great Expectations 1.x's own form."""

    @extend_schema(responses={200: SuiteSerializer, 404: ERROR}, summary="The dataset's expectation suite")
    def get(self, request, dataset_pk: int):
        dataset = self.get_dataset()
        return Response(suite_for_viewer(selectors.suite_answer(dataset), user=request.user, dataset=dataset))

    @extend_schema(
        request=SuiteWriteSerializer,
        responses={200: SuiteSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        summary="Replace the expectation suite",
        description=(
            "Each expectation is checked by Great Expectations (type in its registry, kwargs valid). "
            "Send the `version` you edited to be told (409) when someone changed the suite meanwhile."
        ),
    )
    def put(self, request, dataset_pk: int):
        dataset = self.get_dataset()
        serializer = SuiteWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        suites.save_suite(
            actor=request.user,
            dataset=dataset,
            expectations=data["expectations"],
            name=data.get("name"),
            meta=data.get("meta"),
            expected_version=data.get("version"),
        )
        return Response(suite_for_viewer(selectors.suite_answer(dataset), user=request.user, dataset=dataset))


class ExpectationSuiteImportView(DatasetScopedView):
    parser_classes = [StrictJSONParser, MultiPartParser]

    @extend_schema(
        request={"application/json": GXSuiteExportSerializer, "multipart/form-data": SuiteFileSerializer},
        responses={200: SuiteSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Import a suite that Great Expectations exported",
        description=(
            "Body: the JSON of GX's `ExpectationSuite.to_json_dict()`, or that JSON as a file (`file`, "
            "multipart). Replaces the current suite."
        ),
    )
    def post(self, request, dataset_pk: int):
        dataset = self.get_dataset()
        upload = request.FILES.get("file") if hasattr(request, "FILES") else None
        if upload is not None:
            data = _json_from_upload(upload)
        elif isinstance(request.data, dict):
            data = dict(request.data)
        else:
            raise ValidationError({"suite": ["Send a Great Expectations suite JSON object."]})
        suites.import_suite(actor=request.user, dataset=dataset, data=data)
        return Response(suite_for_viewer(selectors.suite_answer(dataset), user=request.user, dataset=dataset))


MAX_SUITE_FILE_BYTES = 5 * 1024 * 1024


def _json_from_upload(upload) -> object:
    if upload.size > MAX_SUITE_FILE_BYTES:
        raise ValidationError({"file": [f"A suite file is at most {MAX_SUITE_FILE_BYTES} bytes."]})
    try:
        data = json.loads(upload.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError({"file": [f"Not a JSON file: {exc}."]}) from exc
    except RecursionError:
        raise ValidationError({"file": ["Not a suite: its JSON is nested too deeply."]}) from None
    found = unstorable_text(data)
    if found:
        raise ValidationError({"file": [f"{found[0]}: {found[1]}"]})
    return data


class QualityHistoryView(DatasetScopedView):
    @extend_schema(
        responses={200: QualityHistoryPageSerializer, 404: ERROR},
        summary="Quality per version, newest first",
    )
    def get(self, request, dataset_pk: int):
        dataset = self.get_dataset()
        rows = quality_history_for_viewer(
            selectors.quality_history(dataset), user=request.user, dataset=dataset
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(page)
