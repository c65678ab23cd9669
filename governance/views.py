"""Governance's web pages: home, access requests and approvals, clearance, models and audit.

Governance sits on top of the other apps, so its pages may read all of them, always through their
selectors. Every write goes through governance's services (access_requests, dataset_policies,
registry), which refuse what the user may not do; the pages ask the same rules (policies.py) only
to hide the controls that would be refused.

Two reads take one explicit step first, named where they do: the pages that list access requests
expire the approvals past their expiry (access_requests.expire_due_access_requests), and the access
panel folds the lineage events posted before it (lineage's catch_up) before it evaluates clearance.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import selectors as catalog_selectors
from catalog.forms import add_service_errors
from catalog.markdown import render_markdown
from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from governance import (
    access_requests,
    cards,
    clearance,
    dataset_policies,
    evaluation_pages,
    policies,
    registry,
    release,
    selectors,
    teams,
)
from governance.forms import (
    AccessRequestForm,
    DatasetPolicyForm,
    DecisionForm,
    ModelCardForm,
    ModelPolicyForm,
    ModelTeamsForm,
    RevokeForm,
)
from governance.models import AccessRequest, Decision, ModelVersion, Purpose, RequestStatus, Via
from lineage.fold import catch_up
from profiling import selectors as profiling_selectors

HOME_LIST = 8
AUDIT_PAGE = 50


# ---------------------------------------------------------------------------------------------
# Who may do what (policies.py's rules, to hide controls; the services check again)


def _already_approved_by(user, request: AccessRequest) -> bool:
    return any(a.approver_id == user.pk and a.decision == Decision.APPROVE for a in request.approvals.all())


def _inbox(user) -> list[AccessRequest]:
    """Pending requests this user may decide (in person or through a group) and has not approved yet,
    oldest first, with what each still needs."""
    out = teams.awaiting_decision(user)
    for r in out:
        r.needs = _approval_needs(r)
    return out


def _approval_needs(request: AccessRequest) -> list[dict]:
    """Per dataset needing approval: how many approvals it needs, how many are in, what is missing.

    A decider should not have to know the rules by heart: a restricted dataset needs two people
    (a steward and the owner), and the inbox says so beside the approvals already given.
    """
    approvals = [a for a in request.approvals.all() if a.decision == Decision.APPROVE]
    out = []
    for ds in request.datasets.all():
        rule = policies.requirement(ds.sensitivity)
        needed = rule.approvals
        if not needed:
            continue
        given = [(a.approver_id, a.roles.get(str(ds.pk), [])) for a in approvals]
        eligible = {uid for uid, roles in given if roles}
        met = policies.requirement_met(ds.sensitivity, given)
        out.append(
            {
                "dataset": ds,
                "needed": needed,
                "given": needed if met else min(len(eligible), needed - 1),
                "rule": rule.text,
                "missing": "" if met else policies.missing_text(ds.sensitivity, given),
            }
        )
    return out


def _quality_alerts(datasets) -> list[dict]:
    """Datasets whose latest profile failed, failed its quality suite, drifted or shows misfiled PII."""
    alerts = []
    for d in datasets:
        summary = profiling_selectors.latest_profile_summary(d)
        if not summary:
            continue
        problems = []
        if summary["status"] == "failed":
            problems.append("profiling failed")
        quality = summary.get("quality")
        if quality and not quality.get("success"):
            problems.append(f"quality suite failing ({(quality.get('score') or 0):.0%})")
        if summary.get("drift") and summary["drift"].get("drifted_columns"):
            problems.append("drift in " + ", ".join(summary["drift"]["drifted_columns"][:3]))
        if summary.get("pii") and d.sensitivity in ("public", "internal"):
            problems.append("personal data in a " + d.sensitivity + " dataset")
        if problems:
            alerts.append({"dataset": d, "version": summary["version"], "problems": problems})
    return alerts


# ---------------------------------------------------------------------------------------------
# Home


@login_required
@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """What a person signed in would rather see first: recent datasets, what waits for them.
    Requests read as of now: approvals past their expiry are expired first."""
    access_requests.expire_due_access_requests()
    datasets = catalog_selectors.dataset_list(user=request.user)
    recent = list(datasets.order_by("-updated_at")[:HOME_LIST])
    mine = list(datasets.editable_by(request.user).order_by("-updated_at")[:HOME_LIST])
    my_requests = list(
        selectors.access_request_list(user=request.user)
        .filter(requester=request.user)
        .order_by("-created_at")[:HOME_LIST]
    )
    return render(
        request,
        "governance/home.html",
        {
            "recent": recent,
            "mine": mine,
            "inbox": _inbox(request.user)[:HOME_LIST],
            "my_requests": my_requests,
            "alerts": _quality_alerts(mine),
            "teams": teams.teams_of(request.user),
        },
    )


# ---------------------------------------------------------------------------------------------
# Access requests


@login_required
@require_http_methods(["GET", "POST"])
def request_new_view(request: HttpRequest) -> HttpResponse:
    """Ask for access: datasets (prefilled from ?dataset=), purpose, model, justification."""
    initial = {"datasets": "\n".join(request.GET.getlist("dataset"))}
    form = AccessRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            access = access_requests.create_access_request(
                actor=request.user, via=Via.UI, **form.service_data()
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "model" in exc.error_dict:
                exc = ValidationError(
                    {("model" if k == "model_name" else k): v for k, v in exc.error_dict.items()}
                )
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Access request #{access.pk} sent; the datasets' owners and stewards decide."
            )
            return redirect("governance:request", pk=access.pk)
    return render(
        request,
        "governance/request_form.html",
        {"form": form},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@login_required
@require_GET
def my_requests_view(request: HttpRequest) -> HttpResponse:
    """The user's own requests, newest first, as of now (approvals past their expiry are expired first)."""
    access_requests.expire_due_access_requests()
    requests = (
        selectors.access_request_list(user=request.user)
        .filter(requester=request.user)
        .order_by("-created_at")
    )
    page = Paginator(requests, 30).get_page(request.GET.get("page"))
    return render(request, "governance/my_requests.html", {"page": page})


@login_required
@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    """Requests waiting for this user's decision, each with approve / reject and a comment."""
    access_requests.expire_due_access_requests()
    return render(
        request, "governance/inbox.html", {"requests": _inbox(request.user), "form": DecisionForm()}
    )


def _request_or_404(user, pk: int) -> AccessRequest:
    try:
        return selectors.access_request_detail(user=user, pk=pk)
    except AccessRequest.DoesNotExist as exc:
        raise Http404("No such access request, or it is not yours to see.") from exc


@login_required
@require_GET
def request_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A request with its datasets, approvals and full history, as of now (an approval past its
    expiry is expired first, so its status and history say so)."""
    access_requests.expire_due_access_requests()
    access = _request_or_404(request.user, pk)
    user = request.user
    return render(
        request,
        "governance/request_detail.html",
        {
            "access": access,
            "may_decide": policies.may_decide(user, access) and not _already_approved_by(user, access),
            "may_revoke": access.status == RequestStatus.APPROVED and policies.can_revoke(user, access),
            "may_withdraw": access.status == RequestStatus.PENDING and policies.can_withdraw(user, access),
            "form": DecisionForm(),
            "revoke_form": RevokeForm(),
        },
    )


@login_required
@require_POST
def decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject (the service refuses the requester and anyone who is not owner or steward).
    The service locks the request and expires it first when its expiry has passed."""
    access = _request_or_404(request.user, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("governance:request", pk=pk)
    decide = (
        access_requests.approve_access_request
        if form.cleaned_data["decision"] == "approve"
        else access_requests.reject_access_request
    )
    try:
        access = decide(actor=request.user, request=access, comment=form.cleaned_data["comment"], via=Via.UI)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except (Conflict, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("governance:request", pk=pk)
    if access.status == RequestStatus.PENDING:
        messages.info(
            request, f"Your approval of request #{pk} is recorded; it still needs another approval."
        )
    else:
        messages.success(request, f"Request #{pk} is now {access.get_status_display().lower()}.")
    if request.POST.get("next") == "inbox":
        return redirect("governance:inbox")
    return redirect("governance:request", pk=pk)


@login_required
@require_POST
def revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    access = _request_or_404(request.user, pk)
    form = RevokeForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        access_requests.revoke_access_request(actor=request.user, request=access, comment=comment, via=Via.UI)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except (Conflict, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"Request #{pk} is revoked.")
    return redirect("governance:request", pk=pk)


@login_required
@require_POST
def withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester takes back a pending request (the service refuses anyone else)."""
    access = _request_or_404(request.user, pk)
    try:
        access_requests.withdraw_access_request(actor=request.user, request=access, via=Via.UI)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except (Conflict, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, f"Request #{pk} is withdrawn.")
    return redirect("governance:request", pk=pk)


def _invalid(request: HttpRequest) -> int:
    """The status of a form sent back with its errors: 400, or 422 to htmx. app.js swaps a 422 into
    the page for forms marked data-swap-invalid (htmx 2 swaps no 4xx by itself), and django-htmx's
    debug script, which replaces the whole page with any 400 answer under DEBUG, leaves 422 alone."""
    return 422 if request.htmx else 400


def _saved(form, service, **kwargs):
    """Write a valid form's data through a service (via the web UI) → what it returns, or None
    with the service's ValidationError put beside the form's fields. A refusal is a 403."""
    if not form.is_valid():
        return None
    try:
        return service(via=Via.UI, **kwargs, **form.service_data())
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


def _visible_dataset(user, pk: int):
    try:
        return catalog_selectors.dataset_list(user=user).get(pk=pk)
    except Exception as exc:
        if exc.__class__.__name__ == "DoesNotExist":
            raise Http404("No such dataset.") from exc
        raise


def _purpose(value: str | None) -> str:
    return value if value in Purpose.values else Purpose.TRAINING


def _policy_words(dataset, policy) -> list[str]:
    """The dataset's effective policy in plain words: what its sensitivity asks, then each condition."""
    words = [capfirst(policies.requirement_text(dataset.sensitivity)) + "."]
    if policy is not None and policy.require_quality_pass:
        words.append("A passing quality suite on the latest profiled version is required.")
    else:
        words.append("A passing quality suite is not required.")
    if policy is not None and policy.max_parity_difference is not None:
        cap = f"{policy.max_parity_difference:g}"
        columns = ", ".join(dataset.sensitive_columns or [])
        words.append(
            f"Demographic parity difference at most {cap} on every sensitive column ({columns})."
            if columns
            else f"Demographic parity difference at most {cap}; no sensitive column is named, "
            "so there are no bias figures and clearance is refused until there are."
        )
    else:
        words.append("No cap on bias disparity (demographic parity difference).")
    if policy is not None and policy.max_approval_days:
        days = policy.max_approval_days
        words.append(
            f"An approval counts for at most {days} day{'s' if days != 1 else ''} after it is given."
        )
    else:
        words.append("No cap on an approval's age: it lasts until it expires or is revoked.")
    return words


def _access_panel(
    request: HttpRequest, dataset, purpose: str, *, policy_form=None, status: int = 200, **extra
):
    """The access panel: the signed-in user's clearance for the dataset, and the dataset's policy
    (with its edit form for those who may change it). A partial for htmx, else a page of its own.

    As the clearance endpoint, it answers on a lineage graph that holds every event posted before the
    question: pending events are folded first for up to CLEARANCE_LINEAGE_WAIT_SECONDS, and while
    some are still pending it clears nothing and says why."""
    policy = selectors.policy_of(dataset)
    may_edit = can_change_dataset(request.user, dataset)
    if may_edit and policy_form is None:
        policy_form = DatasetPolicyForm(initial=DatasetPolicyForm.initial_for(policy), auto_id="policy-%s")
    behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
    answer = clearance.evaluate(
        principal=request.user, urns=[dataset.urn], purpose=purpose, lineage_behind=behind
    )
    template = "governance/_access_panel.html" if request.htmx else "governance/access_page.html"
    return render(
        request,
        template,
        {
            "dataset": dataset,
            "purpose": purpose,
            "purposes": Purpose.choices,
            "answer": answer,
            "result": answer["datasets"][0],
            "policy": policy,
            "policy_words": _policy_words(dataset, policy),
            "policy_form": policy_form if may_edit else None,
            **extra,
        },
        status=status,
    )


@login_required
@require_GET
def dataset_access_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The signed-in user's clearance for one dataset (a panel of the dataset page), per purpose."""
    dataset = _visible_dataset(request.user, pk)
    return _access_panel(request, dataset, _purpose(request.GET.get("purpose")))


@login_required
@require_POST
def dataset_policy_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Set a dataset's policy from the access panel: the owner, a steward or staff (others: 403).

    Without JavaScript: POST, then a redirect to the access page; with htmx the panel is swapped.
    Errors are shown beside their fields (see _invalid for the status)."""
    dataset = _visible_dataset(request.user, pk)
    if not can_change_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff may change its policy.")
    purpose = _purpose(request.POST.get("purpose"))
    form = DatasetPolicyForm(request.POST, auto_id="policy-%s")
    if _saved(form, dataset_policies.set_dataset_policy, actor=request.user, dataset=dataset):
        if request.htmx:
            return _access_panel(request, dataset, purpose, policy_saved=True)
        messages.success(request, "Policy saved.")
        url = reverse("governance:dataset-access", args=[pk])
        return redirect(f"{url}?purpose={purpose}" if purpose != Purpose.TRAINING else url)
    return _access_panel(request, dataset, purpose, policy_form=form, status=_invalid(request))


# ---------------------------------------------------------------------------------------------
# Models and their cards


@login_required
@require_GET
def models_view(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.model_version_list(user=request.user), 30).get_page(request.GET.get("page"))
    return render(request, "governance/models.html", {"page": page})


def _model_version(user, pk: int) -> ModelVersion:
    try:
        return selectors.model_version_list(user=user).get(pk=pk)
    except ModelVersion.DoesNotExist as exc:
        raise Http404("No such model version.") from exc


def _model_card(
    request: HttpRequest, mv: ModelVersion, *, form=None, policy_form=None, status: int = 200, **extra
):
    """The card (the page, or for htmx the part that holds the card and its edit forms), with the
    release check as the deployment clearance answers it (lineage folded first, as /clearance)."""
    may_edit = registry.can_edit_model(request.user, mv)
    if may_edit and form is None:
        form = ModelCardForm(initial={"intended_use": mv.intended_use, "caveats": mv.caveats})
    behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
    check, _ = release.release_check(model_version=mv, lineage_behind=behind)
    if may_edit and policy_form is None:
        policy_form = ModelPolicyForm(initial=release.policy_values(selectors.model_policy_of(mv)))
    template = "governance/_model_card.html" if request.htmx else "governance/model_card.html"
    teams_form = extra.pop("teams_form", None)
    if teams_form is None and (request.user.is_staff or registry.is_model_owner(request.user, mv.model)):
        current = {"owner_group": mv.model.owner_group.name if mv.model.owner_group_id else ""}
        current["steward_groups"] = [g.name for g in mv.model.steward_groups.all()]
        teams_form = ModelTeamsForm(initial=current, user=request.user)
    context = {
        **evaluation_pages.context(request, mv),
        "card": cards.build_card(mv, viewer=request.user),
        "hidden_request": cards.HIDDEN_REQUEST,
        "form": form if may_edit else None,
        "release": check,
        "policy_form": policy_form if may_edit else None,
        "teams_form": teams_form,
        **extra,
    }
    return render(request, template, context, status=status)


@login_required
@require_GET
def model_card_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A model version's card, laid out to be read on screen and printed."""
    return _model_card(request, _model_version(request.user, pk))


@login_required
@require_POST
def model_card_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The model's owner (or staff) writes the card's intended use and caveats; others: 403.

    "Preview" shows the Markdown as the card will (sanitised) without saving. Without JavaScript:
    POST, then a redirect to the card; with htmx the card is swapped, errors beside their fields."""
    mv = _model_version(request.user, pk)
    if not registry.can_edit_model(request.user, mv):
        raise PermissionDenied("Only the model's owner or staff may edit its card.")
    form = ModelCardForm(request.POST)
    if form.is_valid() and "preview" in request.POST:
        previews = {name: render_markdown(text) for name, text in form.service_data().items()}
        return _model_card(request, mv, form=form, previews=previews)
    if updated := _saved(form, registry.update_model_version, actor=request.user, model_version=mv):
        if request.htmx:
            return _model_card(request, updated, card_saved=True)
        messages.success(request, "Intended use and caveats saved.")
        return redirect("governance:model", pk=mv.pk)
    return _model_card(request, mv, form=form, status=_invalid(request))


@login_required
@require_POST
def model_policy_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The model's owner (or staff) sets its release policy from the card; others: 403. Without
    JavaScript: POST, then a redirect to the card; with htmx the card is swapped."""
    mv = _model_version(request.user, pk)
    if not registry.can_edit_model(request.user, mv):
        raise PermissionDenied("Only the model's owner or staff may set its release policy.")
    form = ModelPolicyForm(request.POST, auto_id="model-policy-%s")
    if _saved(form, release.set_model_policy, actor=request.user, model_version=mv):
        if request.htmx:
            return _model_card(request, mv, policy_saved=True)
        messages.success(request, "Release policy saved.")
        return redirect(f"{reverse('governance:model', args=[mv.pk])}#release")
    return _model_card(request, mv, policy_form=form, status=_invalid(request))


def model_teams_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The model's owner (or staff) names its owner group and steward groups; others: 403."""
    mv = _model_version(request.user, pk)
    if not (request.user.is_staff or registry.is_model_owner(request.user, mv.model)):
        raise PermissionDenied("Only the model's owner or staff may name its teams.")
    form = ModelTeamsForm(request.POST, user=request.user)
    if _saved(form, registry.update_model_version, actor=request.user, model_version=mv):
        messages.success(request, "Teams saved.")
        return redirect("governance:model", pk=mv.pk)
    return _model_card(request, mv, teams_form=form, status=400)


# ---------------------------------------------------------------------------------------------
# Audit


@login_required
@require_GET
def audit_view(request: HttpRequest) -> HttpResponse:
    """Who did what and when to any object (a dataset URN or id, access_request:<id>, ...), newest first."""
    ref = request.GET.get("object", "").strip()[:600]
    try:
        records = selectors.audit_list(object_ref=ref or None, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        records = selectors.audit_list(object_ref=None).none()
    page = Paginator(records, AUDIT_PAGE).get_page(request.GET.get("page"))
    return render(request, "governance/audit.html", {"page": page, "object": ref})
