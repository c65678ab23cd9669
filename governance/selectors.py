"""Reads of governance, scoped by permission and prefetched for endpoints and pages. Nothing here writes."""

from datetime import UTC

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, F, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Dataset
from catalog.querysets import managed_q
from catalog.selectors import (
    DatasetRef,
    dataset_refs_by_urns,
    datasets_by_ids,
    datasets_by_urns,
    datasets_hidden_from,
)
from catalog.urns import candidate_splits
from config.ids import parse_id
from governance.models import (
    AccessRequest,
    Approval,
    AuditRecord,
    AuditSubject,
    DatasetPolicy,
    Decision,
    Delivery,
    EvaluationStatus,
    ModelEvaluation,
    ModelPolicy,
    ModelVersion,
    RequestStatus,
    Subscription,
)

# One clearance question or one request names at most this many datasets (a bigger one is a 400).
MAX_DATASETS_PER_QUERY = 200


def _malformed(urns: list[str]) -> list[str]:
    out = []
    for urn in urns:
        try:
            candidate_splits(urn)
        except ValidationError:
            out.append(urn)
    return out


def dataset_refs_for_urns(urns: list[str]) -> tuple[dict[str, DatasetRef], list[str]]:
    """({urn: DatasetRef} for the known URNs, [malformed URNs]); the lookup is catalog's, one query."""
    refs = dataset_refs_by_urns(urns)
    # A URN that was found is well formed: only the others need parsing again.
    return refs, _malformed([u for u in urns if u not in refs])


def datasets_for_urns(urns: list[str]) -> tuple[dict[str, Dataset], list[str]]:
    """As dataset_refs_for_urns, with Dataset instances (for services that write relations to them)."""
    malformed = _malformed(urns)
    bad = set(malformed)
    return datasets_by_urns([u for u in urns if u not in bad]), malformed


def resolve_urns(urns: list[str], *, field: str) -> dict[str, Dataset]:
    """{urn: dataset} for every URN, or a ValidationError naming the malformed and unknown ones."""
    found, malformed = datasets_for_urns(urns)
    return _resolved(urns, found, set(malformed), field)


def resolve_urn_lists(lists: list[list[str]], *, field: str) -> list[dict[str, Dataset] | ValidationError]:
    """Batch form of resolve_urns, in one query for all the lists: for each list, {urn: dataset} or
    the ValidationError that resolve_urns would raise for it alone."""
    found, malformed = datasets_for_urns(list(dict.fromkeys(u for urns in lists for u in urns)))
    bad = set(malformed)
    out: list[dict[str, Dataset] | ValidationError] = []
    for urns in lists:
        try:
            out.append(_resolved(urns, found, bad, field))
        except ValidationError as exc:
            out.append(exc)
    return out


def _resolved(
    urns: list[str], found: dict[str, Dataset], malformed: set[str], field: str
) -> dict[str, Dataset]:
    errors = []
    bad = [u for u in urns if u in malformed]
    if bad:
        errors.append(f"Not a dataset URN (expected dataset:<namespace>:<name>): {', '.join(bad)}.")
    unknown = [u for u in urns if u not in found and u not in malformed]
    if unknown:
        errors.append(f"Unknown dataset: {', '.join(unknown)}.")
    if errors:
        raise ValidationError({field: errors})
    return {u: found[u] for u in urns}


def _in(values: list) -> tuple[str, list]:
    """``IN (...)`` portable: one array parameter on PostgreSQL, expanded on SQLite."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({','.join(['%s'] * len(values))})", list(values)


def _aware(value):
    """A timestamp from a raw cursor: SQLite gives naive UTC (or text), PostgreSQL an aware datetime."""
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def grant_rows(*, principal_id: int, purpose: str, dataset_ids) -> list[tuple]:
    """(dataset id, request id, status, expires_at, decided_at) of the principal's requests for the
    purpose that name any of the datasets, oldest request first. Plain SQL: clearance's hot path."""
    ids = list(dataset_ids)
    if not ids:
        return []
    cond, params = _in(ids)
    through = AccessRequest.datasets.through._meta.db_table
    table = AccessRequest._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT rd.dataset_id, r.id, r.status, r.expires_at, r.decided_at FROM {through} rd "  # noqa: S608
            f"JOIN {table} r ON r.id = rd.accessrequest_id "
            f"WHERE r.requester_id = %s AND r.purpose = %s AND rd.dataset_id {cond} ORDER BY r.id",
            [principal_id, purpose, *params],
        )
        return [(d, r, st, _aware(e), _aware(dec)) for d, r, st, e, dec in cur.fetchall()]


def approvals_of(request_ids) -> list[tuple[int, int, dict]]:
    """(request id, approver id, roles per dataset id) of the approvals given on these requests."""
    return list(
        Approval.objects.filter(request_id__in=list(request_ids), decision=Decision.APPROVE)
        .order_by()
        .values_list("request_id", "approver_id", "roles")
    )


def policy_rows(dataset_ids) -> dict[int, tuple[bool, float | None, int | None]]:
    """{dataset id: (require_quality_pass, max_parity_difference, max_approval_days)} in plain SQL."""
    ids = list(dataset_ids)
    if not ids:
        return {}
    cond, params = _in(ids)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT dataset_id, require_quality_pass, max_parity_difference, max_approval_days "  # noqa: S608
            f"FROM {DatasetPolicy._meta.db_table} WHERE dataset_id {cond}",
            params,
        )
        return {row[0]: (bool(row[1]), row[2], row[3]) for row in cur.fetchall()}


def policy_of(dataset: Dataset) -> DatasetPolicy | None:
    # updated_by: the API and the access panel both name who changed it last.
    return DatasetPolicy.objects.select_related("updated_by").filter(dataset=dataset).first()


def policies_for(dataset_ids) -> dict[int, DatasetPolicy]:
    return {p.dataset_id: p for p in DatasetPolicy.objects.filter(dataset_id__in=list(dataset_ids))}


def decidable_by(user) -> Q:
    """Requests naming a dataset the user owns or stewards, in person or through a group (deciding
    needs every one: the service checks). Joins many rows: filter ``pk__in`` a subquery of it."""
    return managed_q(user, "datasets__")


def visible_access_requests(user) -> QuerySet[AccessRequest]:
    """The access requests ``user`` may see: those they made or may decide (they own or steward a
    dataset of it); staff see all; nobody signed out sees any.

    The one home of this rule: the request list and detail, the audit records about requests, and
    the model card's approvals all read it, so that no page shows a request that another hides.
    """
    if user is None or not user.is_authenticated:
        return AccessRequest.objects.none()
    if user.is_staff:
        return AccessRequest.objects.all()
    ids = AccessRequest.objects.filter(Q(requester=user) | decidable_by(user)).values("pk")
    return AccessRequest.objects.filter(pk__in=ids)


def access_request_list(*, user) -> QuerySet[AccessRequest]:
    """Requests the user may see (visible_access_requests), with what lists show of them.

    Statuses as stored: an approval past its expiry reads "approved" until it is expired. The pages
    and endpoints that list requests run access_requests.expire_due_access_requests once before
    they read, so that their readers see "expired" at once rather than when the sweep next runs.
    """
    return (
        visible_access_requests(user).select_related("requester", "decided_by").prefetch_related("datasets")
    )


def access_request_detail(*, user, pk: int) -> AccessRequest:
    return access_request_list(user=user).prefetch_related("approvals__approver", "events__actor").get(pk=pk)


def audit_list(*, object_ref: str | None = None, user=None) -> QuerySet[AuditRecord]:
    """Audit records ``user`` may read, newest first; ``object_ref`` is a dataset URN or id, or ``<type>:<id>``.

    Staff read everything. Records about datasets, policies and models are catalog metadata, which
    every signed-in user reads anyway; a record about an access request (requester, purpose,
    model, comments) only reaches those who may see the request itself: its requester and the
    owners and stewards of its datasets. Without a user, request records are left out.
    """
    qs = AuditRecord.objects.order_by("-seq")
    if user is None or not user.is_staff:
        qs = qs.exclude(Q(object_type="access_request") & ~Q(object_id__in=_request_ids_seen_by(user)))
        # Records naming a hidden dataset the user may not see are left out: they would tell it exists.
        hidden = [
            k
            for pk, ns, name in datasets_hidden_from(user)
            for k in (f"dataset:{pk}", f"dataset:{ns}:{name}")
        ]
        if hidden:
            qs = qs.exclude(pk__in=_subject_records(hidden))
    if not object_ref:
        return qs
    ref = object_ref.strip()
    pk = parse_id(ref)
    if pk is not None:
        ds = datasets_by_ids([pk]).get(pk)
        keys = [f"dataset:{ref}"] + ([ds.urn] if ds else [])
    else:
        keys = [ref]
        if ref.startswith("dataset:"):
            found, _ = datasets_for_urns([ref])
            if ref in found:
                keys.append(f"dataset:{found[ref].pk}")
    return qs.filter(pk__in=_subject_records(keys))


def _request_ids_seen_by(user) -> QuerySet:
    """The ids (as text, as audit records store them) of the requests the user may see."""
    return visible_access_requests(user).annotate(pk_text=Cast("pk", CharField())).values("pk_text")


def _subject_records(keys: list[str]):
    return AuditSubject.objects.filter(key__in=keys).values("record_id")


def model_version_list(*, user) -> QuerySet[ModelVersion]:
    # Models are catalog metadata: every signed-in user reads them, as datasets.
    return ModelVersion.objects.select_related(
        "model", "model__owner", "model__owner_group", "registered_by"
    ).prefetch_related("inputs", "model__steward_groups")


def latest_evaluations(model_version: ModelVersion) -> list[ModelEvaluation]:
    """The latest succeeded evaluation of the model version on each evaluation dataset, newest first:
    a later evaluation on the same dataset (another version of it, or the same again) supersedes."""
    rows = ModelEvaluation.objects.filter(
        model_version=model_version, status=EvaluationStatus.SUCCEEDED
    ).order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-id")
    latest: dict[str, ModelEvaluation] = {}
    for row in rows:
        latest.setdefault(row.dataset_urn, row)
    return list(latest.values())


def model_policy_of(model_version: ModelVersion) -> ModelPolicy | None:
    """The release policy of the version's model, or None while nobody has set one."""
    return ModelPolicy.objects.select_related("updated_by").filter(model_id=model_version.model_id).first()


def holds_live_approval(user, dataset) -> bool:
    """Whether ``user`` holds an approved, unexpired access request naming ``dataset`` (any purpose).
    Profiling asks this before showing a protected profile's sample values."""
    if user is None or not user.is_authenticated:
        return False
    return (
        AccessRequest.objects.filter(requester=user, datasets=dataset, status=RequestStatus.APPROVED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .exists()
    )


def approved_dataset_ids(user) -> QuerySet:
    """The ids of the datasets ``user`` holds a live approved access request for (any purpose), as a
    subquery: such a requester may see the dataset even when it is hidden (catalog.visibility)."""
    return (
        AccessRequest.datasets.through.objects.filter(
            accessrequest__requester=user, accessrequest__status=RequestStatus.APPROVED
        )
        .filter(Q(accessrequest__expires_at__isnull=True) | Q(accessrequest__expires_at__gt=timezone.now()))
        .values("dataset_id")
    )


def subscriptions_for(user) -> QuerySet[Subscription]:
    """The event subscriptions ``user`` manages: their own and their groups' (never the system one,
    which is the operator's), newest first. Staff are no exception: a webhook URL may hold a token."""
    if user is None or not user.is_authenticated:
        return Subscription.objects.none()
    mine = Q(owner=user) | Q(group__in=user.groups.values("pk"))
    return Subscription.objects.filter(mine, system=False).select_related("owner", "group", "dataset")


def subscription_deliveries(subscription: Subscription) -> QuerySet[Delivery]:
    """A subscription's delivery log, newest first."""
    return Delivery.objects.filter(subscription=subscription).select_related("event").order_by("-pk")


def model_evaluations(model_version) -> QuerySet[ModelEvaluation]:
    """A model version's evaluations, newest first, with what their answers name."""
    return ModelEvaluation.objects.filter(model_version=model_version).select_related(
        "requested_by", "dataset_version__dataset"
    )
