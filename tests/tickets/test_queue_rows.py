"""The queue's rows are printed by tickets/templatetags/queue_rows.py for speed; they must
read exactly as the template loop they replaced printed them (kept below), for every
kind of row: claimable or assigned, CRC, worry-free, paused, done, owner or not, and with
text that needs escaping."""

import re

import pytest
from django.template import engines

from tests.factories import MembershipFactory, StoreFactory
from tickets.models import ReplyOption, TicketKind, TicketState
from tickets.services.common import WORKABLE_STATES
from tickets.services.contacts import contact_log
from tickets.services.lifecycle import ticket_reply
from tickets.templatetags.queue_rows import queue_rows

from .test_queue import NIGHT, local, opened, page_of

pytestmark = pytest.mark.django_db

# templates/tickets/_ticket_list.html's row loop before queue_rows (de-indented).
TEMPLATE_ROWS = """{% load i18n %}{% translate "Select ticket" as select_label %}{% translate "Take ticket" as take_label %}
{% for ticket, clock, badge, text in rows %}
<tr class="urgency-{{ clock.urgency }}" data-ticket="{{ ticket.number }}" data-id="{{ ticket.pk }}">
{% if is_owner %}<td><input type="checkbox" name="ticket" value="{{ ticket.pk }}" aria-label="{{ select_label }} {{ ticket.number }}"></td>{% endif %}
<td><a href="{{ text.detail_url }}">{{ ticket.number }}</a><br><small>{% translate "Order" %} {{ ticket.order_number }}</small></td>
<td>{% if ticket.is_crc %}<span class="badge crc">{{ text.kind }}</span>{% else %}{{ text.kind }}{% endif %}{% if ticket.worry_free %} <span class="badge">{% translate "Worry-free" %}</span>{% endif %}<br><small>{{ text.category }}</small></td>
<td><span class="state state-{{ ticket.state }}">{{ text.state }}</span></td>
<td>{{ ticket.consumer_name_masked }} {{ ticket.consumer_phone_masked }}</td>
<td>{% if ticket.assignee %}{{ ticket.assignee.get_username }}{% elif ticket.state in workable_states %}<button type="submit" class="claim" formaction="{{ text.claim_url }}{% if query %}?{{ query }}{% endif %}" hx-post="{{ text.claim_url }}{% if query %}?{{ query }}{% endif %}" hx-target="#ticket-list" aria-label="{{ take_label }} {{ ticket.number }}">{% translate "Take" %}</button>{% else %}—{% endif %}</td>
<td>{% if clock.urgency == "done" %}—{% else %}<span class="sla sla-{{ badge.css }}" role="timer" aria-live="off" data-remaining="{{ text.remaining_seconds }}" data-paused="{{ clock.paused|yesno:'1,0' }}">{{ badge.text }}</span>{% if clock.paused %} <span class="badge paused">{% translate "clock paused" %}</span>{% endif %}{% endif %}</td>
<td><time datetime="{{ text.created_iso }}">{{ text.created }}</time></td>
<td><time datetime="{{ text.due_iso }}">{{ text.due }}</time></td>
</tr>
{% endfor %}"""  # noqa: E501


def _squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


@pytest.mark.parametrize("is_owner", [True, False])
@pytest.mark.parametrize("query", ["", "view=all&q=<王>"])
def test_rows_read_as_the_template_printed_them(is_owner, query):
    owner = MembershipFactory(store=StoreFactory(jd=True), role="owner")
    store, user = owner.store, owner.user
    # A CRC ticket paused overnight; an assigned one; a worry-free one; a replied one
    # (done); a consumer name that must be escaped.
    opened(store, "CRC-1", local(24, 18), kind=TicketKind.CRC_HIGH_RISK)
    opened(store, "N-<2>", local(24, 17), consumer_name="<b>王</b>", consumer_phone="13800001234")
    opened(store, "WF-3", local(24, 16), worry_free=True)
    replied, at = opened(store, "R-4", local(24, 10)), local(24, 11)
    contact_log(ticket=replied, user=user, channel="phone", attempted_at=at, now=at)
    settled = ReplyOption.objects.get(platform=store.platform, code="settled")
    ticket_reply(ticket=replied, user=user, option=settled, agreed_at=at, now=at)
    assigned = opened(store, "A-5", local(24, 14))
    assigned.assignee = user
    assigned.save(update_fields=["assignee"])

    rows = page_of(store, user, view="all", now=NIGHT).rows
    assert {row.ticket.state for row in rows} >= {TicketState.OPEN, TicketState.REPLIED}
    assert any(row.clock.paused for row in rows) and any(r.ticket.assignee_id for r in rows)
    options = {"is_owner": is_owner, "query": query, "workable_states": WORKABLE_STATES}
    expected = engines["django"].from_string(TEMPLATE_ROWS).render({"rows": rows, **options})
    printed = str(queue_rows(rows, **options))
    assert "N-&lt;2&gt;" in printed and "&lt;*" in printed  # number, masked name: escaped
    assert _squeeze(printed) == _squeeze(expected)
