"""The work queue's table rows, rendered in Python.

A queue page has 25 rows of about fifty template lookups, tags and filters each; the
template engine spent ~10 ms a page on them (the largest share of a page's Python time
at a big store's volume, issue 12). The same markup from one ``format_html`` per row
costs well under a millisecond. Everything printed is escaped by ``format_html``; the
texts come prepared from ``tickets.queue`` (``RowText``, ``SlaBadge``).
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()

ROW = (
    '<tr class="urgency-{urgency}" data-ticket="{number}" data-id="{pk}">{select}'
    '<td><a href="{detail_url}">{number}</a><br><small>{order_label} {order}</small></td>'
    "<td>{kind}{worry_free}<br><small>{category}</small></td>"
    '<td><span class="state state-{state}">{state_text}</span></td>'
    "<td>{consumer_name} {consumer_phone}</td>"
    "<td>{assignee}</td>"
    "<td>{sla}</td>"
    '<td><time datetime="{created_iso}">{created}</time></td>'
    '<td><time datetime="{due_iso}">{due}</time></td>'
    "</tr>"
)


@register.simple_tag
def queue_rows(rows, *, is_owner: bool, query: str, workable_states) -> SafeString:
    """``<tr>`` for each ``tickets.queue.QueueRow`` of the page (the table's body)."""
    select_label, take_label = gettext("Select ticket"), gettext("Take ticket")
    take, order_label = gettext("Take"), gettext("Order")
    worry_free = format_html(' <span class="badge">{}</span>', gettext("Worry-free"))
    paused = format_html(' <span class="badge paused">{}</span>', gettext("clock paused"))
    suffix = f"?{query}" if query else ""
    html = []
    for ticket, clock, badge, text in rows:
        if ticket.assignee_id:
            assignee = ticket.assignee.get_username()
        elif ticket.state in workable_states:
            claim = text.claim_url + suffix
            assignee = format_html(
                '<button type="submit" class="claim" formaction="{}" hx-post="{}" '
                'hx-target="#ticket-list" aria-label="{} {}">{}</button>',
                claim,
                claim,
                take_label,
                ticket.number,
                take,
            )
        else:
            assignee = "—"
        if clock.urgency == "done":
            sla = "—"
        else:
            sla = format_html(
                '<span class="sla sla-{}" role="timer" aria-live="off" data-remaining="{}" '
                'data-paused="{}">{}</span>{}',
                badge.css,
                text.remaining_seconds,
                "1" if clock.paused else "0",
                badge.text,
                paused if clock.paused else "",
            )
        html.append(
            format_html(
                ROW,
                urgency=clock.urgency,
                number=ticket.number,
                pk=ticket.pk,
                select=format_html(
                    '<td><input type="checkbox" name="ticket" value="{}" aria-label="{} {}"></td>',
                    ticket.pk,
                    select_label,
                    ticket.number,
                )
                if is_owner
                else "",
                detail_url=text.detail_url,
                order_label=order_label,
                order=ticket.order_number,
                kind=format_html('<span class="badge crc">{}</span>', text.kind)
                if ticket.is_crc
                else text.kind,
                worry_free=worry_free if ticket.worry_free else "",
                category=text.category,
                state=ticket.state,
                state_text=text.state,
                consumer_name=ticket.consumer_name_masked,
                consumer_phone=ticket.consumer_phone_masked,
                assignee=assignee,
                sla=sla,
                created_iso=text.created_iso,
                created=text.created,
                due_iso=text.due_iso,
                due=text.due,
            )
        )
    return mark_safe("".join(html))  # noqa: S308 - every part went through format_html
