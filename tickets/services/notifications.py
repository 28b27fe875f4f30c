"""Notifications written in the caller's transaction: in-app rows for the bell and
the outbox of emails and group-bot messages.

Sending happens after commit (``deliveries.py``). This module announces the new
outbox rows with the ``deliveries_ready`` signal from ``transaction.on_commit``; it
never knows who sends them (``tickets/receivers.py`` hands them to Celery).
"""

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from merchants.clock import SHANGHAI
from merchants.models import Membership, Store

from ..bulk import insert_rows
from ..durations import format_local, format_offset
from ..models import Delivery, Notification, NotificationKind, Ticket
from ..signals import deliveries_ready
from .deliveries import CLAIM_TIMEOUT


def ticket_link(ticket_id: int) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/tickets/{ticket_id}/"


# --- writing (inside the caller's transaction) -------------------------------------------


NOTIFICATION_FIELDS = ("store", "ticket", "recipient", "kind", "title", "body", "created_at")
DELIVERY_FIELDS = (
    "key",
    "channel",
    "store",
    "ticket",
    "subject",
    "body",
    "link",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


TITLE_MAX = Notification._meta.get_field("title").max_length


def store_channels(store: Store) -> list[str]:
    """The outbox channels a store has set up: email, group bot, both or neither."""
    channels = []
    if store.after_sales_email:
        channels.append(Delivery.Channel.EMAIL)
    if store.bot_kind and store.bot_url:
        channels.append(Delivery.Channel.WEBHOOK)
    return channels


# A digest lists at most this many ticket numbers; the inbox's escalated filter has them all.
DIGEST_NUMBERS = 20


def notifications_escalated(*, rows: Iterable, now: datetime) -> None:
    """Tell each store its tickets went to platform intervention (in-app).

    One notification per store per batch: a store whose 300 tickets escalate in
    one sweep gets one digest, not 300 bell entries (and the sweep writes one row
    per store instead of one per ticket).
    """
    by_store: dict[int, list] = {}
    for row in rows:
        by_store.setdefault(row.store_id, []).append(row)
    # Deadlines in the notices are Beijing time whatever zone is active (the platforms').
    tz = SHANGHAI
    notifications = []
    for store_id, store_rows in by_store.items():
        if len(store_rows) == 1:
            (row,) = store_rows
            title = _("Ticket %(number)s escalated to platform intervention") % {
                "number": row.number
            }
            body = _("The reply deadline was %(due)s.") % {"due": format_local(row.due_at, tz)}
            ticket_id = row.ticket_id
        else:
            numbers = [row.number for row in store_rows[:DIGEST_NUMBERS]]
            more = len(store_rows) - len(numbers)
            title = ngettext(
                "%(count)d ticket escalated to platform intervention",
                "%(count)d tickets escalated to platform intervention",
                len(store_rows),
            ) % {"count": len(store_rows)}
            body = _("No reply before the deadline: %(numbers)s") % {
                "numbers": ", ".join(numbers)
                + (_(" and %(more)d more") % {"more": more} if more else "")
            }
            ticket_id = None
        notifications.append(
            (store_id, ticket_id, None, NotificationKind.ESCALATED, title, body, now)
        )
    insert_rows(Notification, NOTIFICATION_FIELDS, notifications)


def notifications_reminders(
    *, rows: Iterable, stores: dict[int, Store], now: datetime
) -> list[int]:
    """In-app notification, email and group-bot message for each reminder row
    (reminder_id, ticket_id, offset_minutes, store_id, number, due_at, recipient_id).
    Returns the ids of the deliveries to send after commit."""
    notifications = []
    deliveries = []
    # A sweep batch is thousands of rows: the texts are translated once, the offsets
    # (a few distinct values) formatted once each, not per row.
    title_text = _("Ticket %(number)s: reply due in %(left)s")
    body_text = _(
        "Reply to ticket %(number)s before %(due)s (Beijing time), or it goes to "
        "platform intervention."
    )
    lefts: dict[int, str] = {}
    tz = SHANGHAI  # the body says "(Beijing time)" whatever zone is active
    for row in rows:
        store = stores[row.store_id]
        left = lefts.get(row.offset_minutes)
        if left is None:
            left = lefts[row.offset_minutes] = format_offset(row.offset_minutes)
        title = title_text % {"number": row.number, "left": left}
        body = body_text % {"number": row.number, "due": format_local(row.due_at, tz)}
        notifications.append(
            (
                row.store_id,
                row.ticket_id,
                row.recipient_id,
                NotificationKind.REMINDER,
                title,
                body,
                now,
            )
        )
        channels = store_channels(store)
        deliveries.extend(
            (
                f"reminder:{row.reminder_id}:{channel}",
                channel,
                row.store_id,
                row.ticket_id,
                title,
                body,
                ticket_link(row.ticket_id),
                Delivery.Status.PENDING,
                0,
                # The after-commit enqueue makes the first attempt; the sweep only
                # steps in if that message was lost.
                now + CLAIM_TIMEOUT,
                now,
            )
            for channel in channels
        )
    insert_rows(Notification, NOTIFICATION_FIELDS, notifications)
    return insert_rows(Delivery, DELIVERY_FIELDS, deliveries, returning_ids=True)


def merchant_language():
    """Notices to a store are written in the merchants' language (zh-hans by default),
    whatever language the deciding staff member's admin is in: wrap their text in this."""
    return translation.override(settings.LANGUAGE_CODE)


def notifications_decision(
    *, ticket: Ticket, kind: str, cause: int, title: str, body: str, now: datetime
) -> list[int]:
    """Tell the store about the platform's decision on one of its tickets: the bell,
    and an email and/or a group-bot message as the store has set up.

    Call inside the decision's transaction, after its event is written: a refused
    decision writes nothing. ``cause`` is the id of what was decided (the event, or
    the ticket for a transition it makes at most once); with ``kind`` and the channel
    it is the delivery's unique key, so a decision is never sent twice. Like a
    reminder, the notice goes to the ticket's assignee, or the whole store when
    nobody is assigned. Returns the ids of the deliveries, announced after commit.
    """
    title = Truncator(title.strip()).chars(TITLE_MAX)
    Notification.objects.create(
        store_id=ticket.store_id,
        ticket=ticket,
        recipient_id=ticket.assignee_id,
        kind=kind,
        title=title,
        body=body,
        created_at=now,
    )
    ids = [
        Delivery.objects.create(
            key=f"{kind}:{cause}:{channel}",
            channel=channel,
            store_id=ticket.store_id,
            ticket=ticket,
            subject=title,
            body=body,
            link=ticket_link(ticket.pk),
            status=Delivery.Status.PENDING,
            attempts=0,
            # The after-commit enqueue makes the first attempt; the sweep only steps
            # in if that message was lost.
            next_attempt_at=now + CLAIM_TIMEOUT,
            created_at=now,
        ).pk
        for channel in store_channels(ticket.store)
    ]
    deliveries_announce(ids)
    return ids


def deliveries_announce(ids: list[int]) -> None:
    """Say, once the transaction commits, that these outbox rows wait to be sent.
    Outside a transaction that is at once (the sweep re-queueing retries)."""
    if ids:
        transaction.on_commit(lambda: deliveries_ready.send(sender=Delivery, ids=list(ids)))


def notifications_mark_seen(*, membership: Membership, now: datetime | None = None) -> None:
    """The member opened the notification list: everything up to now is read."""
    Membership.objects.filter(pk=membership.pk).update(notifications_seen_at=now or timezone.now())
