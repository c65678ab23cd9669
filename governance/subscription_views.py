"""The Subscriptions pages: subscribe to events (checkboxes, the target, how to deliver), the secret
shown once, the list, and each subscription's delivery log with "Deliver again".

Thin, as every page: governance.subscriptions writes and decides who may, governance.selectors
reads (a subscription that is not the user's or their group's is a 404, as in the API)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.forms import add_service_errors
from config.errors import Conflict, NotAllowed
from governance import selectors, subscriptions
from governance.forms import SubscriptionForm
from governance.models import DeliveryStatus, Subscription

LOG_PAGE = 30
SESSION_KEY = "governance-new-subscription-secret"  # where the new secret waits for its page


def _mine(user, pk: int) -> Subscription:
    try:
        return selectors.subscriptions_for(user).get(pk=pk)
    except Subscription.DoesNotExist as exc:
        raise Http404("No such subscription, or it is not yours.") from exc


def _create(request: HttpRequest, form: SubscriptionForm) -> Subscription | None:
    """Subscribe from a valid form → the subscription, or None with the refusal beside its field."""
    try:
        sub, secret = subscriptions.create_subscription(actor=request.user, **form.service_data())
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
    except Http404 as exc:
        form.add_error("dataset", str(exc))
        return None
    except NotAllowed as exc:
        form.add_error("group", str(exc))
        return None
    # Shown once, on the next page: kept in the session only until that page has read it.
    request.session[SESSION_KEY] = {"id": sub.pk, "secret": secret}
    return sub


@login_required
@require_http_methods(["GET", "POST"])
def subscriptions_view(request: HttpRequest) -> HttpResponse:
    """The user's subscriptions (and their groups'), and the form to subscribe (?dataset= prefills it)."""
    initial = {"dataset": request.GET.get("dataset", "")[:600], "format": "json"}
    form = SubscriptionForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        sub = _create(request, form)
        if sub is not None:
            messages.success(request, f"Subscription #{sub.pk} made.")
            return redirect("governance:subscription", pk=sub.pk)
    page = Paginator(selectors.subscriptions_for(request.user), LOG_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "governance/subscriptions.html",
        {"form": form, "page": page},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_GET
def subscription_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One subscription: what it hears of, its secret if it was just made, its delivery log."""
    sub = _mine(request.user, pk)
    new = request.session.get(SESSION_KEY)
    secret = None
    if isinstance(new, dict) and new.get("id") == sub.pk:
        secret = new.get("secret")
        del request.session[SESSION_KEY]
    log = Paginator(selectors.subscription_deliveries(sub), LOG_PAGE).get_page(request.GET.get("page"))
    final = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    return render(
        request,
        "governance/subscription_detail.html",
        {"sub": sub, "secret": secret, "page": log, "final": final},
    )


@login_required
@require_POST
def subscription_toggle_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Pause or resume."""
    sub = _mine(request.user, pk)
    try:
        sub = subscriptions.update_subscription(actor=request.user, subscription=sub, active=not sub.active)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Subscription #{pk} is {'active' if sub.active else 'paused'}.")
    return redirect("governance:subscription", pk=pk)


@login_required
@require_POST
def subscription_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _mine(request.user, pk)
    try:
        subscriptions.delete_subscription(actor=request.user, subscription=sub)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"Subscription #{pk} and its delivery log are deleted.")
    return redirect("governance:subscriptions")


@login_required
@require_POST
def redeliver_view(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """Deliver an event again (a new delivery, queued for the worker)."""
    sub = _mine(request.user, pk)
    delivery = selectors.subscription_deliveries(sub).filter(pk=delivery_pk).first()
    if delivery is None:
        raise Http404("No such delivery of this subscription.")
    try:
        again = subscriptions.redeliver(actor=request.user, delivery=delivery)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{delivery.event.name} is queued to be delivered again (#{again.pk}).")
    return redirect("governance:subscription", pk=pk)
