"""The overview chart's bars and its table's rows, rendered in Python.

Thirty days of two bars, a label and a table row each are ~60 template lookups and a
``date`` filter per day, most of the overview's template time; printed from f-strings
the page's p50 went from ~17 to ~15 ms (issue 12, README). Every value printed goes
through ``esc``;
the geometry and the bars' titles come prepared from ``tickets.views.overview.bar_chart``.
``tests/tickets/test_overview_chart.py`` holds the markup to the template loops it
replaced.
"""

from django import template
from django.utils.safestring import SafeString, mark_safe

from .queue_rows import esc

register = template.Library()


def _bar(css: str, bar) -> str:
    return (
        f'<rect class="bar {css}" x="{esc(bar.x)}" y="{esc(bar.y)}" width="{esc(bar.width)}" '
        f'height="{esc(bar.height)}" data-value="{bar.value:d}"><title>{esc(bar.title)}</title>'
        "</rect>"
    )


@register.simple_tag
def chart_bars(chart: dict) -> SafeString:
    """The ``<rect>`` pairs and day labels of ``bar_chart``'s columns (SVG: no locale
    formatting, like the ``{% localize off %}`` around them)."""
    label_y = esc(chart["x_label_y"])
    parts = []
    for column in chart["columns"]:
        parts.append(_bar("received", column.received))
        parts.append(_bar("escalated", column.escalated))
        if column.show_label:
            parts.append(
                f'<text class="x-label" x="{esc(column.label_x)}" y="{label_y}" '
                f'text-anchor="middle">{column.day.day:%m-%d}</text>'
            )
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


@register.simple_tag
def chart_table_rows(days) -> SafeString:
    """A ``<tr>`` per day: the chart's numbers for screen readers and copying."""
    rows = []
    for day in days:
        iso = f"{day.day:%Y-%m-%d}"
        rows.append(
            f'<tr data-day="{iso}"><th scope="row"><time datetime="{iso}">{iso}</time></th>'
            f"<td>{day.received:d}</td><td>{day.escalated:d}</td></tr>"
        )
    return mark_safe("".join(rows))  # noqa: S308 - dates and integers only
