"""The ticket's way through its states: reply, confirm, escalate (one and set-based)."""

from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.services import store_check_member

from ..bulk import insert_rows, update_by_ids
from ..models import NotificationKind, Reply, ReplyOption, Ticket, TicketEvent, TicketState
from .common import (
    EVENT_FIELDS,
    field_error,
    require_perm,
    require_state,
    stores_changed_announce,
    ticket_lock,
    ticket_transition,
)
from .notifications import merchant_language, notifications_decision, notifications_escalated
from .reminders import reminders_cancel


def reply_options_for(*, platform: str):
    return ReplyOption.objects.filter(platform=platform, is_active=True)


def ticket_reply(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    option: ReplyOption,
    remark: str = "",
    agreed_at: datetime | None = None,
    now: datetime | None = None,
) -> Ticket:
    """The merchant's reply (回单), before the deadline, with what its option requires.

    A "not settled" option escalates at once, in the same transaction.
    """
    now = now or timezone.now()
    remark = remark.strip()
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, TicketState.OPEN)
        if now >= ticket.due_at:
            raise ValidationError(
                _("The reply deadline has passed; the ticket goes to platform intervention."),
                code="past_due",
            )
        if option.platform != ticket.store.platform or not option.is_active:
            raise field_error(
                "option", _("Choose one of this platform's reply options."), code="option"
            )
        problems = _reply_requirement_problems(
            ticket=ticket, option=option, remark=remark, agreed_at=agreed_at, now=now
        )
        if problems:
            raise ValidationError(problems)
        Reply.objects.create(
            ticket=ticket,
            option=option,
            settles=option.settles,
            remark=remark,
            agreed_at=agreed_at,
            replied_by=user,
            replied_at=now,
        )
        reminders_cancel(ticket_ids=[ticket.pk])
        ticket_transition(
            ticket,
            "reply",
            actor=user,
            now=now,
            action="replied",
            reason=remark,
            payload={"option": option.code, "settles": option.settles},
        )
        if option.escalates:
            _escalate(
                ticket,
                actor=user,
                now=now,
                reason=_("Not settled: %s") % option.label,
                notify_store=False,
            )
    return ticket


def ticket_reply_check(
    *,
    ticket: Ticket,
    option: ReplyOption,
    remark: str = "",
    agreed_at: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """What ``ticket_reply`` would refuse, checked without writing or locking: a page
    asks the merchant to confirm an escalating reply only when it would be accepted."""
    now = now or timezone.now()
    require_state(ticket, TicketState.OPEN)
    if now >= ticket.due_at:
        raise ValidationError(
            _("The reply deadline has passed; the ticket goes to platform intervention."),
            code="past_due",
        )
    problems = _reply_requirement_problems(
        ticket=ticket, option=option, remark=remark.strip(), agreed_at=agreed_at, now=now
    )
    if problems:
        raise ValidationError(problems)


def _reply_requirement_problems(
    *, ticket: Ticket, option: ReplyOption, remark: str, agreed_at: datetime | None, now: datetime
) -> dict[str, list[ValidationError]]:
    problems: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str) -> None:
        problems.setdefault(field, []).append(ValidationError(message, code=code))

    if option.requires_remark and not remark:
        add("remark", _("This reply needs a description."), "remark_required")
    if option.requires_agreed_at:
        if agreed_at is None:
            add("agreed_at", _("Give the time the agreement was reached."), "agreed_at_required")
        elif agreed_at < ticket.created_at or agreed_at > now:
            add(
                "agreed_at",
                _("The agreement time must fall between the ticket's creation and now."),
                "agreed_at_invalid",
            )
    counting = ticket.contacts.filter(counts=True).count()
    if counting < option.min_contact_attempts:
        add(
            "contacts",
            _(
                "This reply needs %(needed)d contact attempt(s) made after the ticket was "
                "created; %(have)d logged."
            )
            % {"needed": option.min_contact_attempts, "have": counting},
            "contacts_required",
        )
    # The store's own files: the platform's evidence is not the merchant's proof.
    if option.requires_evidence and not ticket.evidence.filter(from_platform=False).exists():
        add("evidence", _("This reply needs at least one evidence file."), "evidence_required")
    return problems


# --- confirm and escalate -------------------------------------------------------------


def ticket_confirm(
    *, ticket: Ticket, user: AbstractBaseUser | None, now: datetime | None = None
) -> Ticket:
    """CS confirms a reply and closes the ticket. ``user=None`` is the system's
    auto-confirmation of a settled reply nobody objected to."""
    now = now or timezone.now()
    if user is not None:
        require_perm(user, "tickets.confirm_ticket")
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        require_state(ticket, TicketState.REPLIED)
        if user is None and not ticket.merchant_reply.settles:
            raise ValidationError(
                _("Only a settled reply is confirmed automatically."), code="not_settled"
            )
        tickets_confirm_locked(ids=[ticket.pk], actor=user, now=now)
        if user is not None:
            # CS's confirmation reaches the store; the sweep's auto-confirmation of a
            # reply the store itself called settled stays silent.
            with merchant_language():
                notifications_decision(
                    ticket=ticket,
                    kind=NotificationKind.CONFIRMED,
                    # A ticket leaves replied for closed at most once.
                    cause=ticket.pk,
                    title=_("Ticket %(number)s: your reply was confirmed and the ticket closed")
                    % {"number": ticket.number},
                    body=_(
                        "Platform customer service confirmed your reply to ticket %(number)s; "
                        "the ticket is closed."
                    )
                    % {"number": ticket.number},
                    now=now,
                )
    ticket.refresh_from_db()
    return ticket


def tickets_confirm_locked(
    *, ids: list[int], actor: AbstractBaseUser | None, now: datetime, reason: str = ""
) -> None:
    """Close replied tickets the caller holds locked: CS's confirmation and the
    sweep's auto-confirmation share this path (two statements for any count)."""
    if not ids:
        return
    source, target = TicketState.REPLIED, CONFIRM_TARGETS[TicketState.REPLIED]
    update_by_ids(Ticket, ids, where={"state": source}, state=target, updated_at=now)
    actor_id = actor.pk if actor is not None else None
    insert_rows(
        TicketEvent,
        EVENT_FIELDS,
        ((ticket_id, "confirmed", source, target, actor_id, now, reason, {}) for ticket_id in ids),
    )


def ticket_escalate(
    *,
    ticket: Ticket,
    user: AbstractBaseUser | None,
    reason: str = "",
    now: datetime | None = None,
    states: tuple[str, ...] = (TicketState.OPEN, TicketState.REPLIED),
) -> Ticket:
    """Send a ticket to platform intervention.

    - open, past its deadline: by the system (``user=None``) or CS; the merchant
      is deemed to have waived evidence (视为放弃举证).
    - replied: by CS when the consumer objects, with a reason.

    ``states`` narrows which of the two a caller accepts (``ticket_object``: replied).
    """
    now = now or timezone.now()
    if user is not None:
        require_perm(user, "tickets.escalate_ticket")
    reason = reason.strip()
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        require_state(ticket, *states)
        if ticket.state == TicketState.OPEN:
            if now < ticket.due_at:
                raise ValidationError(
                    _("The merchant still has time to reply until the deadline."),
                    code="not_due",
                )
            _escalate(
                ticket,
                actor=user,
                now=now,
                reason=reason or _("No reply before the deadline."),
                waived_evidence=True,
            )
        else:
            if user is None:
                raise ValidationError(_("Only CS escalates a replied ticket."), code="needs_cs")
            if not reason:
                raise field_error(
                    "reason", _("Say why the consumer objects."), code="reason_required"
                )
            _escalate(ticket, actor=user, now=now, reason=reason, objection=True)
            with merchant_language():
                notifications_decision(
                    ticket=ticket,
                    kind=NotificationKind.OBJECTED,
                    # A ticket leaves replied for escalated at most once.
                    cause=ticket.pk,
                    title=_(
                        "Ticket %(number)s: the consumer objected; "
                        "escalated to platform intervention"
                    )
                    % {"number": ticket.number},
                    body=" ".join(
                        (
                            _(
                                "Platform customer service escalated ticket %(number)s to platform "
                                "intervention because the consumer objects to your reply."
                            )
                            % {"number": ticket.number},
                            _("The consumer's objection: %(reason)s") % {"reason": reason},
                        )
                    ),
                    now=now,
                )
    return ticket


def ticket_object(
    *, ticket: Ticket, user: AbstractBaseUser, reason: str, now: datetime | None = None
) -> Ticket:
    """The consumer objects to the store's reply: CS escalates the *replied* ticket with
    the objection as the reason (the CS system's API). An open ticket is refused even
    past its deadline: that escalation is the sweep's, with no objection to record."""
    return ticket_escalate(
        ticket=ticket, user=user, reason=reason, now=now, states=(TicketState.REPLIED,)
    )


def _escalate(
    ticket: Ticket,
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    reason: str,
    waived_evidence: bool = False,
    objection: bool = False,
    notify_store: bool = True,
) -> None:
    """Escalate one locked ticket through the same set-based path as the sweep."""
    tickets_escalate_locked(
        rows=[EscalationRow(ticket.pk, ticket.store_id, ticket.number, ticket.due_at)],
        from_state=ticket.state,
        actor=actor,
        now=now,
        reason=reason,
        waived_evidence=waived_evidence,
        objection=objection,
        notify_store=notify_store,
    )
    ticket.refresh_from_db()


class EscalationRow(NamedTuple):
    ticket_id: int
    store_id: int
    number: str
    due_at: datetime


def _fsm_transition(name: str):
    """The transition as declared on the model, so the set-based path below obeys
    the same source/target rules as ticket.escalate()."""
    field = Ticket._meta.get_field("state")
    matches = [t for t in field.get_all_transitions(Ticket) if t.name == name]
    if not matches or any(t.conditions for t in matches):
        # A condition would have to be checked per row; the bulk path cannot do that.
        raise ImproperlyConfigured(f"Ticket.{name} must exist and have no conditions.")
    return {t.source: t.target for t in matches}


ESCALATE_TARGETS = _fsm_transition("escalate")
CONFIRM_TARGETS = _fsm_transition("confirm")


def tickets_escalate_locked(
    *,
    rows: list[EscalationRow],
    from_state: str,
    actor: AbstractBaseUser | None,
    now: datetime,
    reason: str,
    waived_evidence: bool,
    objection: bool = False,
    notify_store: bool = True,
) -> None:
    """Escalate tickets that the caller holds locked in ``from_state``: the one
    write path for a manual escalation and the deadline sweep alike.

    A fixed number of statements whatever len(rows): one UPDATE of the tickets,
    one of their pending reminders, one INSERT of the events, one of the
    notifications for the stores. ``objection``: CS escalates because the consumer
    objects to the reply; the event says so (the timeline shows the reason as the
    objection) and the caller tells the store itself, with the reason, instead of
    the generic escalation notice. ``notify_store=False``: the store escalated the
    ticket itself (a "not settled" reply), so there is nothing to tell it.
    """
    if not rows:
        return
    target = ESCALATE_TARGETS.get(from_state)
    if target is None:
        raise ValidationError(
            _("A %(state)s ticket cannot be escalated.") % {"state": from_state},
            code="wrong_state",
        )
    ids = [row.ticket_id for row in rows]
    update_by_ids(
        Ticket, ids, where={"state": from_state}, state=target, escalated_at=now, updated_at=now
    )
    reminders_cancel(ticket_ids=ids)
    actor_id = actor.pk if actor is not None else None
    insert_rows(
        TicketEvent,
        EVENT_FIELDS,
        (
            (
                row.ticket_id,
                "escalated",
                from_state,
                target,
                actor_id,
                now,
                reason,
                {"waived_evidence": waived_evidence, "due_at": row.due_at.isoformat()}
                | ({"objection": True} if objection else {}),
            )
            for row in rows
        ),
    )
    if notify_store and not objection:
        notifications_escalated(rows=rows, now=now)
    stores_changed_announce(row.store_id for row in rows)
