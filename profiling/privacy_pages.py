"""The steward's privacy page of a dataset: a version's budget, what is spent, the ledger of its
differentially private releases, and forms for the column bounds and the budget (docs/privacy.md).

Thin: profiling.privacy_budget writes (and refuses what the user may not do), privacy_selectors reads.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from catalog.permissions import can_change_dataset
from config.errors import NotAllowed
from profiling import privacy_budget, privacy_selectors
from profiling.views import _dataset, _version


def bounds_text(bounds: list[dict]) -> str:
    """The bounds as the form's lines: ``column, lower, upper, bins`` or ``column: a, b, c``."""
    lines = []
    for b in bounds:
        if b["categories"]:
            lines.append(f"{b['column']}: {', '.join(b['categories'])}")
        else:
            lines.append(f"{b['column']}, {b['lower']:g}, {b['upper']:g}, {b['bins']}")
    return "\n".join(lines)


def parse_bounds(text: str) -> list[dict]:
    """The form's lines back as the API's entries; a line that is neither shape is a 400."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if ":" in line:
            name, _, rest = line.partition(":")
            out.append(
                {"column": name.strip(), "categories": [c.strip() for c in rest.split(",") if c.strip()]}
            )
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            entry = {"column": parts[0], "lower": float(parts[1]), "upper": float(parts[2])}
            if len(parts) > 3:
                entry["bins"] = int(parts[3])
        except (IndexError, ValueError):
            raise ValidationError(
                {f"line {number}": ["Write `column, lower, upper, bins` or `column: a, b, c`."]}
            ) from None
        out.append(entry)
    return out


def _number(text: str, field: str):
    try:
        return float(text) if text.strip() else None
    except ValueError:
        raise ValidationError({field: ["A positive number."]}) from None


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{k}: {m}" for k, msgs in exc.message_dict.items() for m in msgs]
    return list(exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def privacy_page_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _dataset(request, pk)
    if not can_change_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner, a steward or staff manage its privacy budget.")
    version = _version(dataset, request.POST.get("version") or request.GET.get("version"))
    errors: list[str] = []
    bounds_form = None
    if request.method == "POST":
        try:
            if request.POST.get("form") == "bounds":
                bounds_form = request.POST.get("bounds", "")
                privacy_budget.set_bounds(
                    actor=request.user, dataset=dataset, columns=parse_bounds(bounds_form), via="ui"
                )
                messages.success(request, "The column bounds are saved.")
            elif version is not None:
                privacy_budget.set_budget(
                    actor=request.user,
                    version=version,
                    epsilon_total=_number(request.POST.get("epsilon_total", ""), "epsilon_total"),
                    epsilon_per_release=_number(
                        request.POST.get("epsilon_per_release", ""), "epsilon_per_release"
                    ),
                    via="ui",
                )
                messages.success(request, f"The privacy budget of version {version.number} is saved.")
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            query = f"?version={version.number}" if version is not None else ""
            return redirect(f"{request.path}{query}")
    bounds = privacy_selectors.bounds_of(dataset)
    context = {
        "dataset": dataset,
        "version": version,
        "errors": errors,
        "bounds_text": bounds_form if bounds_form is not None else bounds_text(bounds),
        "budget": privacy_selectors.budget_dict(privacy_selectors.budget_of(version)) if version else None,
        "ledger": [privacy_selectors.ledger_entry(r) for r in privacy_selectors.ledger(version)[:200]]
        if version
        else [],
    }
    return render(request, "profiling/privacy_page.html", context, status=400 if errors else 200)
