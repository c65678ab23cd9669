"""Template helpers for catalog pages: highlighted search matches, sanitised Markdown, page links."""

import re

from django import template
from django.core.exceptions import ValidationError
from django.utils.html import escape
from django.utils.safestring import mark_safe

from catalog.markdown import render_markdown
from catalog.models import ScanStatus
from catalog.search_text import split_words
from catalog.source_forms import describe_schedule

register = template.Library()


@register.filter
def highlight(text: str, query: str):
    """Escape ``text`` and wrap each word of ``query`` found in it in <mark>.

    The text is escaped first and only our own <mark> tags are added, so user text can never
    inject markup. Matching is on the escaped text with escaped words, so '&' and '<' still match.
    """
    safe = escape(text or "")
    words = sorted({escape(w) for w in split_words(query or "") if len(w) > 1}, key=len, reverse=True)
    if not words:
        return mark_safe(safe)  # noqa: S308 -- escaped just above
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return mark_safe(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", safe))  # noqa: S308


@register.filter
def excerpt(text: str, length: int = 220) -> str:
    """A plain one-paragraph excerpt of Markdown text (markup characters dropped, not rendered)."""
    plain = re.sub(r"[#*_`>\[\]]+", "", text or "")
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain if len(plain) <= length else plain[: length - 1].rsplit(" ", 1)[0] + "…"


@register.filter
def markdown(text: str):
    """Markdown written by people, rendered and sanitised (nh3) before it is shown."""
    return mark_safe(render_markdown(text or ""))  # noqa: S308 -- sanitised by render_markdown


@register.simple_tag(takes_context=True)
def query_with_param(context, key: str, value) -> str:
    """The current query string with one parameter set ('' removes it); any other change resets the page."""
    params = context["request"].GET.copy()
    if key != "page":
        params.pop("page", None)
    if value in (None, ""):
        params.pop(key, None)
    else:
        params[key] = str(value)
    encoded = params.urlencode()
    return "?" + encoded if encoded else "?"


@register.inclusion_tag("catalog/_sensitivity.html")
def sensitivity_badge(value: str):
    return {"value": value}


@register.filter
def iso_datetime(value):
    """An ISO-8601 string (as selectors hand out) as a datetime, for the |date filter."""
    from django.utils.dateparse import parse_datetime

    if not value or not isinstance(value, str):
        return value
    try:
        return parse_datetime(value)
    except ValueError:
        return None


@register.inclusion_tag("catalog/_scan_badge.html")
def scan_badge(status: str):
    """A scan's status as a badge: Pending, Running, Succeeded, Partly succeeded, Failed."""
    label = ScanStatus(status).label if status in ScanStatus.values else status
    return {"status": status, "label": label}


@register.filter
def schedule_text(expr: str) -> str:
    """A source's cron schedule in words ('At 03:00 (UTC)'; 'On demand only' when empty)."""
    try:
        return describe_schedule(expr)
    except ValidationError:
        return expr
