"""Charts drawn as SVG on the server: histograms, top values, quality over versions, group rates.

Drawn here rather than by a JavaScript library so that the pages need nothing installed beyond
Python packages, show their charts without JavaScript, and print. Every chart carries a text
alternative (role="img" + aria-label) and a <title> per mark for the exact figures.
All text goes through escape(): values come from people's data.
"""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

BAR = "#0b5cad"
OK = "#17663a"
BAD = "#a3201b"
GRID = "#d5d9df"
TEXT = "#333b45"
# Width of one character of the charts' 10 px text, on the safe side (DejaVu Sans, digits and '%').
CHAR_W = 6.5


def _fmt(value: Any) -> str:
    """A short human figure: 1234567 → 1.23M, 0.000123 → 0.000123, text as is."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        a = abs(value)
        if a >= 1e9:
            return f"{value / 1e9:.3g}G"
        if a >= 1e6:
            return f"{value / 1e6:.3g}M"
        if a >= 1e4:
            return f"{value / 1e3:.3g}k"
        if isinstance(value, int) or float(value).is_integer():
            return str(int(value))
        if a >= 100:
            # Not '2.01e+03' for a year's mean: 2008.3 and 2007 must not look the same.
            return f"{value:.0f}" if a >= 1000 else f"{value:.1f}"
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return mark_safe(  # noqa: S308 -- every piece of text inside is escaped where it is built
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


@register.filter
def fmt(value: Any) -> str:
    return _fmt(value)


@register.simple_tag
def histogram_svg(histogram: dict | None, width: int = 240, height: int = 90):
    """Bars of a numeric column's histogram ({"bins": edges (n+1), "counts": n}); without edges
    when they are hidden."""
    if not histogram or not histogram.get("counts"):
        return ""
    counts = [c or 0 for c in histogram["counts"]]
    edges = histogram.get("bins") or []
    top = max(counts) or 1
    pad_b, pad_t = 16, 4
    plot_h = height - pad_b - pad_t
    bw = width / len(counts)
    body = []
    for i, c in enumerate(counts):
        h = plot_h * c / top
        if i + 1 < len(edges):
            where = f"{escape(_fmt(edges[i]))} – {escape(_fmt(edges[i + 1]))}"
        else:  # edges hidden (values of a protected dataset): the shape alone
            where = f"bin {i + 1}"
        body.append(
            f'<rect x="{i * bw + 0.5:.1f}" y="{pad_t + plot_h - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{where}: {c}</title></rect>'
        )
    body.append(f'<line x1="0" y1="{pad_t + plot_h}" x2="{width}" y2="{pad_t + plot_h}" stroke="{GRID}"/>')
    if edges:
        body.append(f'<text x="0" y="{height - 3}">{escape(_fmt(edges[0]))}</text>')
        body.append(f'<text x="{width}" y="{height - 3}" text-anchor="end">{escape(_fmt(edges[-1]))}</text>')
    label = f"Histogram in {len(counts)} bins"
    if edges:
        label += f" from {_fmt(edges[0])} to {_fmt(edges[-1])}"
    label += f"; the fullest bin holds {top}."
    return _svg(width, height, label, body)


@register.simple_tag
def top_values_svg(top_values: list | None, width: int = 240, limit: int = 6):
    """Horizontal bars of a column's most frequent values."""
    values = (top_values or [])[:limit]
    if not values:
        return ""
    row = 15
    height = row * len(values) + 2
    top = max(v.get("count") or 0 for v in values) or 1
    label_w = 95
    body = []
    for i, v in enumerate(values):
        y = i * row + 1
        w = (width - label_w - 40) * (v.get("count") or 0) / top
        name = escape(_fmt(v.get("value")))
        body.append(f'<text x="{label_w - 4}" y="{y + 11}" text-anchor="end">{name}</text>')
        body.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row - 4}" fill="{BAR}">'
            f"<title>{name}: {v.get('count')}</title></rect>"
        )
        body.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 11}">{escape(_fmt(v.get("count")))}</text>')
    label = "Most frequent values: " + ", ".join(f"{_fmt(v.get('value'))} ({v.get('count')})" for v in values)
    return _svg(width, height, label, body)


@register.simple_tag
def quality_chart_svg(history: list | None, width: int = 520, height: int = 150):
    """Quality score (0–1) over versions, oldest left; passing versions green, failing red."""
    points = sorted((h for h in history or [] if h.get("score") is not None), key=lambda h: h["version"])
    if not points:
        return ""
    left, right, top_pad, bottom = 34, 10, 8, 22
    pw, ph = width - left - right, height - top_pad - bottom
    n = len(points)

    def xy(i: int, score: float) -> tuple[float, float]:
        x = left + (pw * i / (n - 1) if n > 1 else pw / 2)
        return x, top_pad + ph * (1 - max(0.0, min(1.0, score)))

    body = []
    for tick in (0, 0.5, 1):
        y = top_pad + ph * (1 - tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{int(tick * 100)}%</text>')
    coords = [xy(i, p["score"]) for i, p in enumerate(points)]
    if n > 1:
        body.append(
            '<polyline fill="none" stroke="#4a5360" stroke-width="1.5" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            + '"/>'
        )
    step = max(1, n // 12)
    for i, (p, (x, y)) in enumerate(zip(points, coords, strict=True)):
        colour = OK if p.get("success") else BAD
        verdict = "passed" if p.get("success") else "failed"
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>Version {p["version"]}: '
            f"{p['score']:.0%} of expectations met, {verdict}</title></circle>"
        )
        if i % step == 0 or i == n - 1:
            body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">v{p["version"]}</text>')
    label = "Quality score by version: " + ", ".join(
        f"v{p['version']} {p['score']:.0%} {'passed' if p.get('success') else 'failed'}" for p in points
    )
    return _svg(width, height, label, body)


@register.simple_tag
def group_rates_svg(attribute: dict | None, width: int = 460):
    """Positive rate per group of one sensitive attribute, with each group's share of the rows."""
    groups = (attribute or {}).get("groups") or {}
    if not groups:
        return ""
    items = sorted(groups.items(), key=lambda kv: str(kv[0]))
    row = 20
    # Room for the text on both sides, measured generously (10 px text, at most ~6.5 px a character)
    # so that no label is clipped by the SVG's edge; the bars get what is left, at least 160 px.
    label_w = 10 + math.ceil(CHAR_W * max(len(_fmt(name)) for name, _ in items))
    right_w = 10 + math.ceil(CHAR_W * len("100% · 100% of rows"))
    pw = max(width - label_w - right_w, 160)
    width = label_w + pw + right_w
    height = row * len(items) + 20
    rates = [g.get("positive_rate") for _, g in items if g.get("positive_rate") is not None]
    hi, lo = (max(rates), min(rates)) if rates else (None, None)
    body = [
        f'<text x="{label_w}" y="{height - 4}">0%</text>',
        f'<text x="{label_w + pw}" y="{height - 4}" text-anchor="end">100%</text>',
    ]
    for i, (name, g) in enumerate(items):
        y = i * row + 2
        rate = g.get("positive_rate")
        # The lowest rate is marked only when it fails the four-fifths rule (ratio below 0.8).
        fill = BAD if rate is not None and rate == lo and hi and lo / hi < 0.8 else BAR
        w = pw * (rate or 0)
        body.append(f'<text x="{label_w - 5}" y="{y + 13}" text-anchor="end">{escape(_fmt(name))}</text>')
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{pw}" height="{row - 6}" fill="#eef1f5"/>')
        tip = (
            f"{escape(_fmt(name))}: positive rate {'n/a' if rate is None else f'{rate:.1%}'}, "
            f"{g.get('count')} rows ({(g.get('share') or 0):.1%} of all)"
        )
        body.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row - 6}" fill="{fill}"><title>{tip}</title></rect>'
        )
        text = "n/a" if rate is None else f"{rate:.0%}"
        body.append(
            f'<text x="{label_w + pw + 5}" y="{y + 13}">{text} · {(g.get("share") or 0):.0%} of rows</text>'
        )
    label = "Positive rate by group: " + ", ".join(
        f"{_fmt(n)} {'n/a' if g.get('positive_rate') is None else format(g['positive_rate'], '.0%')}"
        for n, g in items
    )
    return _svg(width, height, label, body)


@register.simple_tag
def drift_chart_svg(series: dict | None, width: int = 520, height: int = 170):
    """A column's PSI (or KS p-value) per version against the monitor's reference, oldest left, with
    the rule's threshold as a dashed line; points beyond it in red."""
    points = (series or {}).get("points") or []
    if not points:
        return ""
    metric, threshold = series.get("metric", "psi"), series.get("threshold")
    fires = (lambda v: v < threshold) if metric == "ks_pvalue" else (lambda v: v > threshold)
    values = [p["value"] for p in points] + ([threshold] if threshold is not None else [])
    top = 1.0 if metric == "ks_pvalue" else max(max(values) * 1.15, 0.05)
    left, right, pad_t, bottom = 42, 10, 8, 22
    pw, ph = width - left - right, height - pad_t - bottom
    n = len(points)

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (pw * i / (n - 1) if n > 1 else pw / 2)
        return x, pad_t + ph * (1 - max(0.0, min(1.0, value / top)))

    body = []
    for tick in (0, top / 2, top):
        y = pad_t + ph * (1 - tick / top)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{escape(_fmt(round(tick, 3)))}</text>'
        )
    if threshold is not None:
        _, ty = xy(0, threshold)
        body.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" stroke="{BAD}" '
            f'stroke-dasharray="5 3"><title>Threshold {threshold:g}</title></line>'
        )
        body.append(
            f'<text x="{width - right}" y="{ty - 3:.1f}" text-anchor="end">threshold {threshold:g}</text>'
        )
    coords = [xy(i, p["value"]) for i, p in enumerate(points)]
    if n > 1:
        body.append(
            '<polyline fill="none" stroke="#4a5360" stroke-width="1.5" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            + '"/>'
        )
    label_name = "KS p-value" if metric == "ks_pvalue" else "PSI"
    step = max(1, n // 12)
    for i, (p, (x, y)) in enumerate(zip(points, coords, strict=True)):
        beyond = threshold is not None and fires(p["value"])
        against = f" against version {p['reference']}" if p.get("reference") else ""
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{BAD if beyond else OK}"><title>Version {p["version"]}'
            f"{against}: {label_name} {p['value']:.4g}{' (beyond the threshold)' if beyond else ''}</title></circle>"
        )
        if i % step == 0 or i == n - 1:
            body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">v{p["version"]}</text>')
    label = f"{label_name} of {series.get('column')} by version" + (
        f", threshold {threshold:g}: " if threshold is not None else ": "
    )
    label += ", ".join(f"v{p['version']} {p['value']:.3g}" for p in points)
    return _svg(width, height, label, body)


# Colours that stay apart for readers with the common colour-vision deficiencies (Okabe–Ito).
GROUP_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")


@register.simple_tag
def group_metrics_svg(groups: list | None, metrics: list | tuple, width: int = 520, column: str = ""):
    """Bars of each rate (0–1) of ``metrics`` per group of one sensitive column: one block per
    metric, one bar per group in the group's colour (the same in every block), the figure written
    beside it. The caller names the rates (the evaluation's own list: governance.card_evaluations)."""
    groups = [g for g in groups or [] if isinstance(g, dict)]
    metrics = [m for m in metrics or () if any(g.get(m) is not None for g in groups)]
    if not groups or not metrics:
        return ""
    bar, gap = 12, 10
    label_w = 10 + math.ceil(CHAR_W * max(len(_fmt(g.get("group"))) for g in groups))
    head = 14
    block = head + bar * len(groups) + gap
    pw = max(width - label_w - 50, 160)
    width = label_w + pw + 50
    height = block * len(metrics)
    body = []
    for mi, metric in enumerate(metrics):
        top = mi * block
        body.append(
            f'<text x="0" y="{top + 10}" font-weight="bold">{escape(metric.replace("_", " "))}</text>'
        )
        for gi, g in enumerate(groups):
            y = top + head + gi * bar
            value = g.get(metric)
            name = escape(_fmt(g.get("group")))
            colour = GROUP_COLOURS[gi % len(GROUP_COLOURS)]
            shown = "n/a" if value is None else f"{value:.3f}"
            body.append(f'<text x="{label_w - 5}" y="{y + 10}" text-anchor="end">{name}</text>')
            body.append(f'<rect x="{label_w}" y="{y + 1}" width="{pw}" height="{bar - 2}" fill="#eef1f5"/>')
            body.append(
                f'<rect x="{label_w}" y="{y + 1}" width="{max(pw * (value or 0), 0.5):.1f}" height="{bar - 2}" '
                f'fill="{colour}"><title>{name}: {escape(metric)} {shown}</title></rect>'
            )
            body.append(f'<text x="{label_w + pw + 4}" y="{y + 10}">{shown}</text>')
    label = f"Rates by group{' of ' + column if column else ''}: " + "; ".join(
        f"{m.replace('_', ' ')} "
        + ", ".join(
            f"{_fmt(g.get('group'))} {'n/a' if g.get(m) is None else format(g[m], '.3f')}" for g in groups
        )
        for m in metrics
    )
    return _svg(width, height, label, body)
