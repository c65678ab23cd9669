"""A differentially private figure as the profile page shows it: value ± accuracy (ε)."""

from django import template

register = template.Library()


def _fmt(x, digits: int) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 10):
        return f"{int(x):,}"
    return f"{x:,.{digits}g}" if isinstance(x, float) else str(x)


@register.filter
def dp_figure(figure, digits: int = 4) -> str:
    """``{"value", "epsilon", "ci95"}`` → "1,234 ± 12 (95 %: 1,222–1,246; ε 0.1)"; "—" when absent."""
    if not isinstance(figure, dict) or figure.get("value") is None:
        return "—"
    low, high = figure["ci95"]
    half = (high - low) / 2
    return (
        f"{_fmt(figure['value'], digits)} ± {_fmt(half, 2)} "
        f"(95 %: {_fmt(low, digits)}–{_fmt(high, digits)}; ε {figure['epsilon']:.3g})"
    )
