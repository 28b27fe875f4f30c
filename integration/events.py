"""The public event catalogue: TicketEvent actions as the platform's CS system sees them.

Pure data, no ORM: the feed, the webhooks, the admin's type choices and the README's
catalogue table all read it. Several actions may share one public type (a granted and a
rejected exemption are both "exemption.decided"); the event's data says which.
"""

from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

# action (tickets.models.EventAction) -> (public type, when it fires)
CATALOGUE: dict[str, tuple[str, str]] = {
    "opened": ("ticket.opened", _("CS opened a ticket against a store.")),
    "assigned": ("ticket.assigned", _("A store assigned the ticket to one of its staff.")),
    "contact_logged": ("contact.logged", _("The store logged an attempt to contact the consumer.")),
    "evidence_uploaded": ("evidence.uploaded", _("The store uploaded evidence.")),
    "replied": ("ticket.replied", _("The store replied to the ticket (回单).")),
    # lifecycle.ticket_confirm / the sweep's auto-confirmation: replied -> closed.
    "confirmed": (
        "ticket.closed",
        _("CS confirmed a settled reply, or nobody objected within 72 hours: the ticket closed."),
    ),
    "escalated": (
        "ticket.escalated",
        _("The ticket went to platform intervention (deadline passed, or not settled)."),
    ),
    "judged": ("ticket.judged", _("An arbitrator judged the escalated ticket.")),
    "compensated": (
        "ticket.compensated",
        _("A worry-free order was compensated without judgment; the ticket closed."),
    ),
    "evidence_forged": ("evidence.forged", _("An arbitrator marked evidence as forged.")),
    "exemption_requested": ("exemption.requested", _("The store asked for a deadline exemption.")),
    "exemption_granted": (
        "exemption.decided",
        _("Ops granted or rejected an exemption request (granted extends the deadline)."),
    ),
    "exemption_rejected": (
        "exemption.decided",
        _("Ops granted or rejected an exemption request (granted extends the deadline)."),
    ),
    "reminder_sent": ("reminder.sent", _("A deadline reminder (催促消息) went to the store.")),
    "staff_note": ("ticket.note_added", _("Platform staff added a note.")),
    "appeal_filed": ("appeal.filed", _("The store appealed a judgment or a forged finding.")),
    "appeal_upheld": ("appeal.decided", _("An appeal was decided (upheld or overturned).")),
    "appeal_overturned": ("appeal.decided", _("An appeal was decided (upheld or overturned).")),
}

# Every public type once, in catalogue order.
EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(kind for kind, _when in CATALOGUE.values()))
UNKNOWN_TYPE = "ticket.event"  # an action added later and not yet in the catalogue


def event_type(action: str) -> str:
    return CATALOGUE.get(action, (UNKNOWN_TYPE, ""))[0]


def actions_of(types) -> set[str]:
    """The actions behind some public types."""
    wanted = set(types)
    return {action for action, (kind, _when) in CATALOGUE.items() if kind in wanted}


def event_type_choices() -> list[tuple[str, str]]:
    """(type, "type: when it fires") for the admin's checkboxes: the type is an identifier
    the receiver matches, the words say what it means in the staff's language."""
    when = {}
    for kind, description in CATALOGUE.values():
        when.setdefault(kind, description)
    return [(kind, format_html("<code>{}</code> {}", kind, when[kind])) for kind in EVENT_TYPES]
