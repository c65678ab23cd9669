"""Privacy endpoints for stewards: the column bounds a differentially private release is computed
with, each version's privacy budget, and its ledger of releases (docs/api.md, "Privacy").

Reading bounds and a budget needs only to see the dataset: both are public by design (the
guarantee assumes the bounds are known to all). Changing them is for the owner, a steward or staff;
the ledger, which names who asked for each release, is theirs to read too.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from catalog.permissions import can_change_dataset
from config.errors import NotAllowed
from config.rest import Pagination
from profiling import privacy_budget, privacy_selectors
from profiling.api.views import ERROR, DatasetScopedView

BOUND = inline_serializer(
    "PrivacyBound",
    {
        "column": serializers.CharField(),
        "lower": serializers.FloatField(allow_null=True, required=False),
        "upper": serializers.FloatField(allow_null=True, required=False),
        "bins": serializers.IntegerField(required=False),
        "categories": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
BOUNDS = inline_serializer("PrivacyBounds", {"columns": BOUND.__class__(many=True)})
BUDGET = inline_serializer(
    "PrivacyBudget",
    {
        "epsilon_total": serializers.FloatField(),
        "epsilon_spent": serializers.FloatField(read_only=True),
        "epsilon_per_release": serializers.FloatField(allow_null=True, required=False),
    },
)
LEDGER_PAGE = inline_serializer(
    "PrivacyLedgerPage",
    {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": inline_serializer(
            "PrivacyLedgerEntry",
            {
                "id": serializers.IntegerField(),
                "requested_by": serializers.CharField(allow_null=True),
                "created_at": serializers.DateTimeField(),
                "columns": serializers.ListField(child=serializers.CharField()),
                "epsilon": serializers.FloatField(),
            },
            many=True,
        ),
    },
)


def _body(request) -> dict:
    return request.data if isinstance(request.data, dict) else {}


class PrivacyBoundsView(DatasetScopedView):
    """The per-column bounds (numeric) and categories that stewards publish for private releases."""

    @extend_schema(responses={200: BOUNDS, 404: ERROR}, summary="Column bounds for private releases")
    def get(self, request, dataset_pk: int):
        return Response({"columns": privacy_selectors.bounds_of(self.get_dataset())})

    @extend_schema(
        request=BOUNDS,
        responses={200: BOUNDS, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Replace the column bounds for private releases",
        description=(
            "Owner, steward or staff. Each entry gives `lower` < `upper` (and `bins`, 1..100, default 10) "
            "for a numeric column, or `categories` (the public set of values) for another; a column "
            "left out loses its settings. Releases already made are kept; the next request makes a "
            "new one with the new settings if the budget allows."
        ),
    )
    def put(self, request, dataset_pk: int):
        dataset = self.get_dataset()
        saved = privacy_budget.set_bounds(
            actor=request.user, dataset=dataset, columns=_body(request).get("columns")
        )
        return Response({"columns": saved})


class PrivacyBudgetView(DatasetScopedView):
    """A version's privacy budget: the total ε a steward allows, what one release costs, what is spent."""

    @extend_schema(responses={200: BUDGET, 404: ERROR}, summary="A version's privacy budget")
    def get(self, request, dataset_pk: int, number: int):
        return Response(privacy_selectors.budget_dict(privacy_selectors.budget_of(self.get_version())))

    @extend_schema(
        request=BUDGET,
        responses={200: BUDGET, 400: ERROR, 403: ERROR, 404: ERROR},
        summary="Set a version's privacy budget",
        description=(
            "Owner, steward or staff. `epsilon_total` a positive number, at least what is spent; "
            "`epsilon_per_release` (default 1, or the total if less) what one release spends."
        ),
    )
    def put(self, request, dataset_pk: int, number: int):
        body = _body(request)
        budget = privacy_budget.set_budget(
            actor=request.user,
            version=self.get_version(),
            epsilon_total=body.get("epsilon_total"),
            epsilon_per_release=body.get("epsilon_per_release"),
        )
        return Response(privacy_selectors.budget_dict(budget))


class PrivacyLedgerView(DatasetScopedView):
    @extend_schema(
        responses={200: LEDGER_PAGE, 403: ERROR, 404: ERROR},
        summary="The ledger of a version's private releases (who, when, columns, ε), newest first",
    )
    def get(self, request, dataset_pk: int, number: int):
        version = self.get_version()
        if not can_change_dataset(request.user, version.dataset):
            raise NotAllowed("Only the dataset's owner, a steward or staff may read its privacy ledger.")
        paginator = Pagination()
        page = paginator.paginate_queryset(privacy_selectors.ledger(version), request, view=self)
        return paginator.get_paginated_response([privacy_selectors.ledger_entry(r) for r in page])
