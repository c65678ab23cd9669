"""Renderers of the model card: Markdown, a sanitised HTML page and Model Card Toolkit's structure
beside the JSON."""

from rest_framework.renderers import BaseRenderer, JSONRenderer

from governance import card_mct, cards


def _is_card(data) -> bool:
    return isinstance(data, dict) and "model_details" in data


class MarkdownCardRenderer(BaseRenderer):
    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if _is_card(data):
            return cards.to_markdown(data).encode()
        return str((data or {}).get("detail", "")).encode()  # an error: its detail as plain text


class HTMLCardRenderer(BaseRenderer):
    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if _is_card(data):
            return cards.to_html(data).encode()
        from django.utils.html import escape

        return f"<p>{escape(str((data or {}).get('detail', '')))}</p>".encode()


class MCTCardRenderer(JSONRenderer):
    """``?format=mct``: the card in Model Card Toolkit's schema v0.0.2 (governance/card_mct.py)."""

    format = "mct"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if _is_card(data):
            request = (renderer_context or {}).get("request")
            from django.urls import reverse

            page = reverse("governance:model", args=[data["id"]])
            url = request.build_absolute_uri(page) if request is not None else None
            data = card_mct.to_mct(data, url=url)
        return super().render(data, accepted_media_type, renderer_context)
