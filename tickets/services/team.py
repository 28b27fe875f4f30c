"""Who works a ticket: assignment (by the store or by platform staff), round-robin,
duty, the store's quick phrases."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import Membership, Store
from merchants.services import store_check_member, store_check_owner

from ..bulk import insert_rows, update_by_ids
from ..models import EventAction, ReplyTemplate, Ticket, TicketEvent
from .common import (
    EVENT_FIELDS,
    WORKABLE_STATES,
    field_error,
    require_perm,
    require_state,
    stores_changed_announce,
    ticket_event_write,
    ticket_lock,
)


def round_robin_next(*, store: Store) -> int | None:
    """The next on-duty member after the last one served (call inside a transaction).

    The store row is locked so two tickets opened at once get different people.
    """
    store = Store.objects.select_for_update().get(pk=store.pk)
    on_duty = list(
        Membership.objects.filter(store=store, on_duty=True)
        .order_by("pk")
        .values_list("pk", "user_id")
    )
    if not on_duty:
        return None
    after = [m for m in on_duty if store.round_robin_last_id and m[0] > store.round_robin_last_id]
    membership_id, user_id = (after or on_duty)[0]
    Store.objects.filter(pk=store.pk).update(round_robin_last=membership_id)
    return user_id


def store_check_assignee(*, store: Store, assignee: AbstractBaseUser | None) -> None:
    """A ticket is assigned to a member of its store, or to nobody."""
    if assignee is not None and not store.memberships.filter(user_id=assignee.pk).exists():
        raise field_error(
            "assignee", _("Choose a member of this store."), code="assignee_not_member"
        )


def tickets_assign(
    *,
    store: Store,
    user: AbstractBaseUser,
    ticket_ids: list[int],
    assignee: AbstractBaseUser | None,
    now: datetime | None = None,
) -> int:
    """The owner assigns one or several of the store's tickets (None: unassign).

    Set-based: the same statements for one ticket or a page of them.
    """
    now = now or timezone.now()
    store_check_owner(user=user, store=store)
    store_check_assignee(store=store, assignee=assignee)
    ids = sorted(set(ticket_ids))
    if not ids:
        raise field_error("tickets", _("Select at least one ticket."), code="no_tickets")
    with transaction.atomic():
        # Lock in pk order (as the sweeps do) so concurrent writers cannot deadlock.
        found = list(
            Ticket.objects.select_for_update()
            .filter(pk__in=ids, store=store)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if len(found) != len(ids):
            # Another store's ticket id: refuse the whole request, reveal nothing.
            raise PermissionDenied(_("Some of these tickets are not yours."))
        update_by_ids(Ticket, ids, assignee=assignee, updated_at=now)
        assignee_name = assignee.get_username() if assignee is not None else ""
        insert_rows(
            TicketEvent,
            EVENT_FIELDS,
            ((pk, "assigned", "", "", user.pk, now, "", {"assignee": assignee_name}) for pk in ids),
        )
        stores_changed_announce([store.pk])
    return len(ids)


def store_set_round_robin(*, store: Store, user: AbstractBaseUser, enabled: bool) -> Store:
    store_check_owner(user=user, store=store)
    Store.objects.filter(pk=store.pk).update(round_robin=enabled)
    store.refresh_from_db()
    return store


def membership_set_on_duty(
    *, membership: Membership, user: AbstractBaseUser, on_duty: bool
) -> Membership:
    store_check_owner(user=user, store=membership.store)
    Membership.objects.filter(pk=membership.pk).update(on_duty=on_duty)
    membership.refresh_from_db()
    return membership


def reply_template_create(
    *, store: Store, user: AbstractBaseUser, title: str, text: str
) -> ReplyTemplate:
    """A quick phrase (快捷短语) for the store's replies."""
    store_check_owner(user=user, store=store)
    title, text = title.strip(), text.strip()
    problems = {}
    if not title:
        problems["title"] = _("Give the phrase a short title.")
    elif len(title) > 50:
        problems["title"] = _("Keep the title under 50 characters.")
    if not text:
        problems["text"] = _("Write the phrase.")
    elif len(text) > 1000:
        problems["text"] = _("Keep the phrase under 1,000 characters.")
    if not problems and store.reply_templates.filter(title=title).exists():
        problems["title"] = _("The store already has a phrase with this title.")
    if problems:
        raise ValidationError(problems)
    return ReplyTemplate.objects.create(store=store, title=title, text=text)


def reply_template_delete(*, template: ReplyTemplate, user: AbstractBaseUser) -> None:
    store_check_owner(user=user, store=template.store)
    template.delete()


STAFF_NOTE_MAX = 2000


def ticket_staff_update(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    assignee: AbstractBaseUser | None,
    note: str = "",
    now: datetime | None = None,
) -> list[str]:
    """What platform staff may change on a ticket in admin: its assignee (a member of
    the ticket's store, or nobody) and a note for the timeline. Everything a rule
    depends on (store, kind, policy, deadline, state) changes only through its own rule.

    Returns the events written ("assigned", "staff_note"); nothing changed, nothing written.
    """
    now = now or timezone.now()
    require_perm(user, "tickets.change_ticket")
    note = _staff_note_checked(note)
    written = []
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        assignee_id = assignee.pk if assignee is not None else None
        if assignee_id != ticket.assignee_id:
            store_check_assignee(store=ticket.store, assignee=assignee)
            Ticket.objects.filter(pk=ticket.pk).update(assignee=assignee, updated_at=now)
            ticket_event_write(
                ticket=ticket,
                action=EventAction.ASSIGNED,
                actor=user,
                at=now,
                payload={"assignee": assignee.get_username() if assignee is not None else ""},
            )
            written.append(EventAction.ASSIGNED)
        if note:
            ticket_event_write(
                ticket=ticket, action=EventAction.STAFF_NOTE, actor=user, at=now, reason=note
            )
            written.append(EventAction.STAFF_NOTE)
    return written


def ticket_staff_note(
    *, ticket: Ticket, user: AbstractBaseUser, note: str, now: datetime | None = None
) -> TicketEvent:
    """A platform staff note on the ticket's timeline and nothing else (the CS system's
    note through the API): who may write one and how long it may be are the rules of
    ``ticket_staff_update``'s note; here the note is the whole request, so it is required.
    A note may go on a ticket in any state, as in admin."""
    now = now or timezone.now()
    require_perm(user, "tickets.change_ticket")
    note = _staff_note_checked(note)
    if not note:
        raise field_error("note", _("Write the note."), code="note_required")
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        return ticket_event_write(
            ticket=ticket, action=EventAction.STAFF_NOTE, actor=user, at=now, reason=note
        )


def _staff_note_checked(note: str) -> str:
    note = note.strip()
    if len(note) > STAFF_NOTE_MAX:
        raise field_error(
            "note",
            _("Keep the note under %(limit)d characters.") % {"limit": STAFF_NOTE_MAX},
            code="note_too_long",
        )
    return note


def ticket_claim(*, ticket: Ticket, user: AbstractBaseUser, now: datetime | None = None) -> Ticket:
    """接单: a member of the store takes an unassigned ticket for themself.

    The row lock makes two people claiming at once end with one owner: the second
    is refused with the first one's name.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, *WORKABLE_STATES)
        if ticket.assignee_id == user.pk:
            return ticket
        if ticket.assignee_id is not None:
            raise ValidationError(
                _("%(name)s has already taken this ticket.")
                % {"name": ticket.assignee.get_username()},
                code="already_claimed",
            )
        ticket.assignee = user
        ticket.save(update_fields=["assignee", "updated_at"])
        ticket_event_write(
            ticket=ticket,
            action=EventAction.ASSIGNED,
            actor=user,
            at=now,
            payload={"assignee": user.get_username(), "claimed": True},
        )
    return ticket
