"""The store overview: today's figures and the last 30 days as an inline SVG chart."""

import math
from typing import NamedTuple

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext

from ..dashboard_selectors import DayCount, notifications_unread_count, store_overview
from .common import store_required

# The chart's drawing area, in SVG user units (it scales to the page width).
CHART_WIDTH, CHART_HEIGHT = 720, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 16, 44
Y_TICKS = 4
X_LABEL_EVERY = 5


class Bar(NamedTuple):
    x: str
    y: str
    width: str
    height: str
    value: int
    title: str  # "11-24: 12 received", what a pointer or a screen reader gets


class Column(NamedTuple):
    day: DayCount
    received: Bar
    escalated: Bar
    label_x: str
    show_label: bool


class Tick(NamedTuple):
    value: int
    y: str


def _fmt(number: float) -> str:
    # Plain dot-decimal whatever the active language: these are SVG coordinates.
    return f"{number:.1f}"


def _nice_top(largest: int) -> int:
    """The axis top: Y_TICKS steps of 1, 2 or 5 × 10^k, at least the largest value."""
    raw = max(largest, 1) / Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return int(step * Y_TICKS)


def bar_chart(days: list[DayCount]) -> dict:
    """Geometry for a grouped bar chart of received and escalated tickets per day."""
    plot_width = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM
    baseline = PAD_TOP + plot_height
    top = _nice_top(max((max(d.received, d.escalated) for d in days), default=0))
    slot = plot_width / max(len(days), 1)
    bar_width = slot * 0.4

    # Translated once, filled in per bar (a template tag per bar cost the page ~3 ms).
    received_title, escalated_title = (
        gettext("%(day)s: %(n)s received"),
        gettext("%(day)s: %(n)s escalated"),
    )

    def bar(x: float, value: int, title: str) -> Bar:
        height = plot_height * value / top
        return Bar(_fmt(x), _fmt(baseline - height), _fmt(bar_width), _fmt(height), value, title)

    columns = []
    for index, day in enumerate(days):
        left = PAD_LEFT + index * slot + slot * 0.1
        label = {"day": day.day.strftime("%m-%d")}
        columns.append(
            Column(
                day=day,
                received=bar(left, day.received, received_title % {**label, "n": day.received}),
                escalated=bar(
                    left + bar_width,
                    day.escalated,
                    escalated_title % {**label, "n": day.escalated},
                ),
                label_x=_fmt(PAD_LEFT + index * slot + slot / 2),
                show_label=index % X_LABEL_EVERY == 0 or index == len(days) - 1,
            )
        )
    ticks = [
        Tick(top * i // Y_TICKS, _fmt(baseline - plot_height * i / Y_TICKS))
        for i in range(Y_TICKS + 1)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": PAD_LEFT,
        "right": CHART_WIDTH - PAD_RIGHT,
        "top": PAD_TOP,
        "baseline": baseline,
        "x_label_y": baseline + 16,
        "x_title_y": CHART_HEIGHT - 6,
        "y_title_x": 12,
        "y_title_y": _fmt(PAD_TOP + plot_height / 2),
        "columns": columns,
        "ticks": ticks,
        "total_received": sum(d.received for d in days),
        "total_escalated": sum(d.escalated for d in days),
    }


@store_required
def overview(request):
    now = timezone.now()
    overview = store_overview(store=request.store, now=now)
    context = {
        "now": now,
        "figures": overview.figures,
        "days": overview.days,
        "chart": bar_chart(overview.days),
        "unread_count": notifications_unread_count(membership=request.membership),
    }
    return render(request, "tickets/overview.html", context)
