"""Template tags of the lineage page: the graph laid out by lineage.layout, drawn as SVG."""

from django import template
from django.utils.safestring import SafeString

from lineage import layout

register = template.Library()


@register.simple_tag
def lineage_svg(laid_out: layout.Layout) -> SafeString:
    """The SVG markup of a laid-out graph (lineage.layout.svg)."""
    return layout.svg(laid_out)
