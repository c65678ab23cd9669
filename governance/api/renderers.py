"""Renderers of the model card: Markdown and a sanitised HTML page beside the JSON."""

from rest_framework.renderers import BaseRenderer

from governance import cards


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
