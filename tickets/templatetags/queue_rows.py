"""The work queue's table rows, rendered in Python.

A queue page has 25 rows of about fifty template lookups, tags and filters each; the
template engine spent ~10 ms a page on them (the largest share of a page's Python time
at a big store's volume, issue 12). The same markup from f-strings costs ~1 ms. Every
value printed goes through ``esc`` (Django's ``conditional_escape``); the texts come
prepared from ``tickets.queue`` (``RowText``, ``SlaBadge``).
"""

import html

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


def esc(value) -> str:
    """``conditional_escape`` without its lazy-string wrapper (a row calls it ~25 times)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


@register.simple_tag
def queue_rows(rows, *, is_owner: bool, query: str, workable_states) -> SafeString:
    """``<tr>`` for each ``tickets.queue.QueueRow`` of the page (the table's body)."""
    select_label, take_label = esc(gettext("Select ticket")), esc(gettext("Take ticket"))
    take, order_label = esc(gettext("Take")), esc(gettext("Order"))
    worry_free = f' <span class="badge">{esc(gettext("Worry-free"))}</span>'
    paused = f' <span class="badge paused">{esc(gettext("clock paused"))}</span>'
    suffix = f"?{query}" if query else ""
    html_rows = []
    for ticket, clock, badge, text in rows:
        number = esc(ticket.number)
        if ticket.assignee_id:
            assignee = esc(ticket.assignee.get_username())
        elif ticket.state in workable_states:
            claim = esc(text.claim_url + suffix)
            assignee = (
                f'<button type="submit" class="claim" formaction="{claim}" hx-post="{claim}" '
                f'hx-target="#ticket-list" aria-label="{take_label} {number}">{take}</button>'
            )
        else:
            assignee = "—"
        if clock.urgency == "done":
            sla = "—"
        else:
            sla = (
                f'<span class="sla sla-{esc(badge.css)}" role="timer" aria-live="off" '
                f'data-remaining="{text.remaining_seconds:d}" '
                f'data-paused="{"1" if clock.paused else "0"}">{esc(badge.text)}</span>'
                f"{paused if clock.paused else ''}"
            )
        select = (
            f'<td><input type="checkbox" name="ticket" value="{ticket.pk:d}" '
            f'aria-label="{select_label} {number}"></td>'
            if is_owner
            else ""
        )
        kind = esc(text.kind)
        if ticket.is_crc:
            kind = f'<span class="badge crc">{kind}</span>'
        html_rows.append(
            f'<tr class="urgency-{esc(clock.urgency)}" data-ticket="{number}" '
            f'data-id="{ticket.pk:d}">{select}'
            f'<td><a href="{esc(text.detail_url)}">{number}</a><br>'
            f"<small>{order_label} {esc(ticket.order_number)}</small></td>"
            f"<td>{kind}{worry_free if ticket.worry_free else ''}<br>"
            f"<small>{esc(text.category)}</small></td>"
            f'<td><span class="state state-{esc(ticket.state)}">{esc(text.state)}</span></td>'
            f"<td>{esc(ticket.consumer_name_masked)} {esc(ticket.consumer_phone_masked)}</td>"
            f"<td>{assignee}</td><td>{sla}</td>"
            f'<td><time datetime="{esc(text.created_iso)}">{esc(text.created)}</time></td>'
            f'<td><time datetime="{esc(text.due_iso)}">{esc(text.due)}</time></td></tr>'
        )
    return mark_safe("".join(html_rows))  # noqa: S308 - every value went through esc
