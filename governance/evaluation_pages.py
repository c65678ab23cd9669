"""The model page's evaluations: the list with live status (polled while one runs) and the form
that starts one. Thin: governance.evaluations decides and writes."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from catalog.forms import add_service_errors
from config.errors import NotAllowed
from governance import evaluations, selectors
from governance.card_evaluations import RATE_METRICS
from governance.forms import EvaluationForm
from governance.models import EvaluationStatus, ModelVersion, Via

LISTED = 20  # evaluations shown on the page, newest first


def _model_version(user, pk: int) -> ModelVersion:
    try:
        return selectors.model_version_list(user=user).get(pk=pk)
    except ModelVersion.DoesNotExist as exc:
        raise Http404("No such model version.") from exc


def context(request: HttpRequest, mv: ModelVersion, *, form: EvaluationForm | None = None) -> dict:
    """What the model page needs of its evaluations: the list as the viewer may read it, whether
    one is still running (the list then polls), and the form for those who may evaluate."""
    rows = [
        evaluations.evaluation_as_seen_by(e, request.user) for e in selectors.model_evaluations(mv)[:LISTED]
    ]
    may = evaluations.can_evaluate(request.user, mv)
    return {
        "mv": mv,
        "evaluations": rows,
        "evaluations_running": any(
            e["status"] in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING) for e in rows
        ),
        "evaluation_form": (form or EvaluationForm()) if may else None,
        "rate_metrics": RATE_METRICS,
    }


@login_required
@require_GET
def model_evaluations_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The evaluation list alone: what the page polls while an evaluation is queued or running."""
    mv = _model_version(request.user, pk)
    return render(request, "governance/_evaluations.html", context(request, mv))


@login_required
@require_POST
def model_evaluate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Start an evaluation from the page (the model's owner or staff); errors beside the fields."""
    mv = _model_version(request.user, pk)
    if not evaluations.can_evaluate(request.user, mv):
        raise PermissionDenied(
            "Only the model's owner, the account that registered it, or staff may evaluate it."
        )
    form = EvaluationForm(request.POST)
    if form.is_valid():
        try:
            evaluations.request_evaluation(
                actor=request.user, model_version=mv, via=Via.UI, **form.service_data()
            )
        except NotAllowed as exc:
            form.add_error("dataset", str(exc))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if request.htmx:
                return render(request, "governance/_evaluations.html", context(request, mv))
            messages.success(request, "Evaluation queued.")
            return redirect("governance:model", pk=mv.pk)
    if not request.htmx:  # without JavaScript: back to the page, the reasons on top
        messages.error(request, " ".join(f"{e}" for errors in form.errors.values() for e in errors))
        return redirect("governance:model", pk=mv.pk)
    return render(request, "governance/_evaluations.html", context(request, mv, form=form), status=422)
