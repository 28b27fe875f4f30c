"""The overview chart's bars and table rows are printed by
tickets/templatetags/overview_chart.py for speed; they must read exactly as the template
loops they replaced printed them (kept below): labels every fifth day and on the last,
titles that need escaping, days with nothing."""

import re
from datetime import date, timedelta

from django.template import engines
from django.utils import translation

from tickets.dashboard_selectors import DayCount
from tickets.templatetags.overview_chart import chart_bars, chart_table_rows
from tickets.views.overview import bar_chart

# templates/tickets/overview.html's two loops before the tags (de-indented).
TEMPLATE_BARS = """{% load l10n %}{% localize off %}{% for col in chart.columns %}
<rect class="bar received" x="{{ col.received.x }}" y="{{ col.received.y }}" width="{{ col.received.width }}" height="{{ col.received.height }}" data-value="{{ col.received.value }}"><title>{{ col.received.title }}</title></rect>
<rect class="bar escalated" x="{{ col.escalated.x }}" y="{{ col.escalated.y }}" width="{{ col.escalated.width }}" height="{{ col.escalated.height }}" data-value="{{ col.escalated.value }}"><title>{{ col.escalated.title }}</title></rect>
{% if col.show_label %}<text class="x-label" x="{{ col.label_x }}" y="{{ chart.x_label_y }}" text-anchor="middle">{{ col.day.day|date:"m-d" }}</text>{% endif %}
{% endfor %}{% endlocalize %}"""  # noqa: E501
TEMPLATE_ROWS = """{% for d in days %}
<tr data-day="{{ d.day|date:'Y-m-d' }}"><th scope="row"><time datetime="{{ d.day|date:'Y-m-d' }}">{{ d.day|date:"Y-m-d" }}</time></th><td>{{ d.received }}</td><td>{{ d.escalated }}</td></tr>
{% endfor %}"""  # noqa: E501


def _squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


def _days() -> list[DayCount]:
    first = date(2026, 11, 1)
    # Quiet days, a surge (four-digit counts), and every label position.
    counts = [(0, 0), (3, 1), (12, 0), (1250, 310), (7, 7)] * 6
    return [
        DayCount(first + timedelta(days=i), received, escalated, 0)
        for i, (received, escalated) in enumerate(counts)
    ]


def test_bars_and_rows_read_as_the_template_printed_them():
    days = _days()
    for language in ("zh-hans", "en"):
        with translation.override(language):
            chart = bar_chart(days)
            # A title that must be escaped, as a translation could make one.
            chart["columns"][0] = chart["columns"][0]._replace(
                received=chart["columns"][0].received._replace(title='<b>"11-01"</b> & 0')
            )
            django = engines["django"]
            bars = django.from_string(TEMPLATE_BARS).render({"chart": chart})
            rows = django.from_string(TEMPLATE_ROWS).render({"days": days})
            printed_bars, printed_rows = str(chart_bars(chart)), str(chart_table_rows(days))
        assert "&lt;b&gt;&quot;11-01&quot;&lt;/b&gt; &amp; 0" in printed_bars
        assert printed_bars.count('class="x-label"') == 7  # days 1, 6, …, 26 and the last
        assert _squeeze(printed_bars) == _squeeze(bars)
        assert 'data-value="1250"' in printed_bars and "<td>1250</td>" in printed_rows
        assert _squeeze(printed_rows) == _squeeze(rows)
