"""What waits for a person, and their teams as the home page shows them: the approval inbox (requests
they may decide, in person or through a group), and each of their groups with the datasets and
models it owns or stewards and the requests that wait for a decision of someone acting for it.

Reads only. Who acts through a group is catalog.permissions' rule; who may decide a request is
policies.py's: this module only gathers, in a fixed number of queries whatever the number of groups.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db.models import Q

from catalog.models import Dataset
from governance import policies, selectors
from governance.models import AccessRequest, Decision, RegisteredModel, RequestStatus

MAX_ROWS = 20  # per group and list: the home page links to the full lists


@dataclass
class Team:
    """One of the user's groups and what it answers for."""

    group: Group
    owns: list = field(default_factory=list)  # datasets
    stewards: list = field(default_factory=list)  # datasets
    models: list = field(default_factory=list)  # (model, "owner" | "steward")
    waiting: list = field(default_factory=list)  # pending access requests


def teams_of(user) -> list[Team]:
    """The user's groups, by name, each with what it owns, stewards and waits for. A request waits for
    a team when one of its datasets is the team's and the user may decide it and has not approved it."""
    if user is None or not user.is_authenticated:
        return []
    teams = {g.pk: Team(g) for g in user.groups.order_by("name")}
    if not teams:
        return []
    ids = list(teams)
    for ds in Dataset.objects.filter(owner_group_id__in=ids).order_by("name"):
        _add(teams[ds.owner_group_id].owns, ds)
    through = Dataset.steward_groups.through
    for link in through.objects.filter(group_id__in=ids).select_related("dataset").order_by("dataset__name"):
        _add(teams[link.group_id].stewards, link.dataset)
    for model in RegisteredModel.objects.filter(owner_group_id__in=ids).order_by("name"):
        _add(teams[model.owner_group_id].models, (model, "owner"))
    model_links = RegisteredModel.steward_groups.through.objects.filter(group_id__in=ids)
    for link in model_links.select_related("registeredmodel").order_by("registeredmodel__name"):
        _add(teams[link.group_id].models, (link.registeredmodel, "steward"))
    for request in awaiting_decision(user, group_ids=ids):
        for ds in request.datasets.all():
            for gid in {ds.owner_group_id, *(g.pk for g in ds.steward_groups.all())} & set(ids):
                if request not in teams[gid].waiting:
                    _add(teams[gid].waiting, request)
    return list(teams.values())


def _add(rows: list, item) -> None:
    if len(rows) < MAX_ROWS:
        rows.append(item)


def awaiting_decision(user, *, group_ids: list[int] | None = None) -> list[AccessRequest]:
    """Pending requests ``user`` may decide (policies.may_decide: in person or through a group) and
    has not approved yet, oldest first: the approval inbox. With ``group_ids``, only those naming a
    dataset these groups own or steward."""
    pending = selectors.access_request_list(user=user).filter(status=RequestStatus.PENDING)
    if group_ids is not None:
        theirs = Q(datasets__owner_group_id__in=group_ids) | Q(datasets__steward_groups__in=group_ids)
        pending = pending.filter(pk__in=AccessRequest.objects.filter(theirs).values("pk"))
    pending = (
        pending.exclude(requester=user)
        .prefetch_related(
            "datasets__stewards",
            "datasets__steward_groups",
            "datasets__owner",
            "datasets__owner_group",
            "approvals__approver",
        )
        .order_by("created_at")
    )
    return [
        r
        for r in pending
        if policies.may_decide(user, r)
        and not any(a.approver_id == user.pk and a.decision == Decision.APPROVE for a in r.approvals.all())
    ]
