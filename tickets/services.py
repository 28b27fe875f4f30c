"""Ticket rules: every write goes through a function here.

Refusals raise django.core.exceptions.ValidationError with a ``code`` so the
admin, the API and the dashboard all show the same plain message.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import Membership, Platform, Store
from merchants.services import (
    store_check_member,
    store_check_owner,
    store_check_ticket_eligibility,
)

from . import evidence as evidence_files
from . import sla
from .bulk import insert_rows, update_by_ids
from .models import (
    ApiToken,
    Category,
    ContactAttempt,
    ContactChannel,
    Evidence,
    ExemptionRequest,
    Policy,
    Reminder,
    Reply,
    ReplyOption,
    ReplyTemplate,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from .notifications import notifications_escalated


def policy_for(*, platform: str, kind: str) -> Policy:
    try:
        return Policy.objects.select_related("calendar").get(
            platform=platform, kind=kind, is_active=True
        )
    except Policy.DoesNotExist:
        raise ValidationError(
            _("No active reply policy for %(platform)s / %(kind)s.")
            % {"platform": platform, "kind": kind},
            code="no_policy",
        ) from None


def ticket_compute_due_at(*, policy: Policy, created_at: datetime) -> datetime:
    return sla.compute_due_at(
        created_at=created_at, window=policy.window, clock=policy.clock, schedule=policy.schedule()
    )


def ticket_open(
    *,
    store: Store,
    number: str,
    order_number: str,
    summary: str,
    kind: str = TicketKind.NORMAL,
    category: str = Category.OTHER,
    worry_free: bool = False,
    consumer_name: str = "",
    consumer_phone: str = "",
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """Open a ticket against ``store``; returns (ticket, created).

    Idempotent on the platform ticket number: the platform's CS system retries,
    so the same number again returns the ticket already opened, unchanged.
    """
    existing = Ticket.objects.filter(number=number).first()
    if existing is not None:
        return _same_ticket_or_conflict(existing, store=store), False

    store_check_ticket_eligibility(store=store)
    if kind == TicketKind.CRC_HIGH_RISK and store.platform != Platform.JD:
        raise ValidationError(_("CRC high-risk complaints exist on JD only."), code="crc_not_jd")
    if kind not in TicketKind.values:
        raise ValidationError(_("Unknown ticket kind %(kind)s.") % {"kind": kind}, code="kind")
    if category not in Category.values:
        raise ValidationError(
            _("Unknown category %(category)s.") % {"category": category}, code="category"
        )
    created_at = now or timezone.now()
    policy = policy_for(platform=store.platform, kind=kind)
    ticket = Ticket(
        number=number,
        store=store,
        policy=policy,
        order_number=order_number,
        kind=kind,
        worry_free=worry_free,
        category=category,
        summary=summary,
        consumer_name=consumer_name,
        consumer_phone=consumer_phone,
        created_at=created_at,
        due_at=ticket_compute_due_at(policy=policy, created_at=created_at),
        priority=Ticket.PRIORITY_CRC
        if kind == TicketKind.CRC_HIGH_RISK
        else Ticket.PRIORITY_NORMAL,
    )
    ticket.full_clean(exclude=["state", "store", "policy"], validate_unique=False)
    try:
        with transaction.atomic():
            if store.round_robin:
                ticket.assignee_id = _round_robin_next(store=store)
            ticket.save()
            Reminder.objects.bulk_create(reminders_for(ticket=ticket))
            TicketEvent.objects.create(
                ticket=ticket,
                action="opened",
                to_state=TicketState.OPEN,
                actor=actor,
                at=created_at,
                payload={"due_at": ticket.due_at.isoformat(), "policy": policy.pk},
            )
    except IntegrityError:
        # Two deliveries of the same number raced; the other one won.
        existing = Ticket.objects.filter(number=number).first()
        if existing is None:
            raise
        return _same_ticket_or_conflict(existing, store=store), False
    return ticket, True


def reminders_for(*, ticket: Ticket) -> list[Reminder]:
    """The ticket's reminders from its policy, unsaved. A working-clock reminder
    falls inside working time (never at night: Zammad #4432)."""
    policy = ticket.policy
    schedule = policy.schedule()
    return [
        Reminder(
            ticket=ticket,
            offset_minutes=int(offset.total_seconds() // 60),
            fire_at=sla.reminder_at(
                due_at=ticket.due_at, offset=offset, clock=policy.clock, schedule=schedule
            ),
        )
        for offset in policy.reminder_offsets
    ]


def reminders_reschedule(*, ticket: Ticket) -> None:
    """After the deadline moved (an exemption), move the reminders not yet sent."""
    fire_at = {r.offset_minutes: r.fire_at for r in reminders_for(ticket=ticket)}
    pending = list(ticket.reminders.filter(status=Reminder.Status.PENDING))
    for reminder in pending:
        reminder.fire_at = fire_at.get(reminder.offset_minutes, reminder.fire_at)
    Reminder.objects.bulk_update(pending, ["fire_at"])


def reminders_cancel(*, ticket_ids: list[int]) -> None:
    """A ticket that leaves open (replied, escalated) gets none of its pending reminders."""
    update_by_ids(
        Reminder,
        ticket_ids,
        match="ticket",
        where={"status": Reminder.Status.PENDING},
        status=Reminder.Status.CANCELLED,
    )


def _same_ticket_or_conflict(ticket: Ticket, *, store: Store) -> Ticket:
    if ticket.store_id != store.pk:
        raise ValidationError(
            _("Ticket number %(number)s already belongs to another store.")
            % {"number": ticket.number},
            code="number_conflict",
        )
    return ticket


def field_error(field: str, message: str, *, code: str) -> ValidationError:
    """A refusal tied to one input field, keeping its code (forms show it by the field)."""
    return ValidationError({field: ValidationError(message, code=code)})


# --- shared mechanics of every state change -------------------------------------------


def ticket_lock(*, ticket: Ticket) -> Ticket:
    """The ticket row, re-read under a row lock (call inside transaction.atomic).

    Every service that changes a ticket takes this lock first, so a merchant's
    reply and the deadline sweep (or two staff) serialise: the second one sees
    the first one's state and is refused, never both applied.
    """
    return Ticket.objects.select_for_update().select_related("store", "policy").get(pk=ticket.pk)


EVENT_FIELDS = ("ticket", "action", "from_state", "to_state", "actor", "at", "reason", "payload")


def ticket_event_write(
    *,
    ticket: Ticket,
    action: str,
    actor: AbstractBaseUser | None,
    at: datetime,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    payload: dict | None = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        action=action,
        actor=actor,
        at=at,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        payload=payload or {},
    )


def ticket_transition(
    ticket: Ticket,
    name: str,
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    action: str,
    reason: str = "",
    payload: dict | None = None,
) -> TicketEvent:
    """Fire transition ``name`` on a locked ticket, save it and record the event."""
    from_state = ticket.state
    getattr(ticket, name)()
    ticket.save()
    return ticket_event_write(
        ticket=ticket,
        action=action,
        actor=actor,
        at=now,
        from_state=from_state,
        to_state=ticket.state,
        reason=reason,
        payload=payload,
    )


def require_state(ticket: Ticket, *states: str) -> None:
    if ticket.state not in states:
        raise ValidationError(
            _("Ticket %(number)s is %(state)s; this needs it %(needed)s.")
            % {
                "number": ticket.number,
                "state": TicketState(ticket.state).label,
                "needed": " / ".join(str(TicketState(s).label) for s in states),
            },
            code="wrong_state",
        )


def require_perm(user: AbstractBaseUser | None, perm: str) -> None:
    if user is None or not user.is_active or not user.has_perm(perm):
        raise PermissionDenied(_("You are not allowed to do this."))


# Tickets on which merchants may still add contacts and evidence.
WORKABLE_STATES = (TicketState.OPEN, TicketState.REPLIED, TicketState.ESCALATED)


# --- contact attempts -------------------------------------------------------------------


def contact_log(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    channel: str,
    attempted_at: datetime,
    note: str = "",
    proof: Evidence | None = None,
    now: datetime | None = None,
) -> ContactAttempt:
    """Record an attempt to reach the consumer.

    An attempt dated before the ticket was created is kept but flagged: it does
    not count toward a reply (the Taobao seed says so explicitly).
    """
    now = now or timezone.now()
    if channel not in ContactChannel.values:
        raise field_error("channel", _("Choose a contact channel."), code="channel")
    if timezone.is_naive(attempted_at):
        raise field_error("attempted_at", _("Give the time with its time zone."), code="naive")
    # A few minutes of clock skew between the merchant's device and the server are fine.
    if attempted_at > now + timedelta(minutes=5):
        raise field_error(
            "attempted_at", _("A contact attempt cannot be in the future."), code="future"
        )
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, *WORKABLE_STATES)
        if proof is not None and proof.ticket_id != ticket.pk:
            raise field_error("proof", _("The proof file belongs to another ticket."), code="proof")
        counts = attempted_at >= ticket.created_at
        contact = ContactAttempt.objects.create(
            ticket=ticket,
            channel=channel,
            attempted_at=attempted_at,
            note=note.strip(),
            proof=proof,
            counts=counts,
            logged_by=user,
            logged_at=now,
        )
        ticket_event_write(
            ticket=ticket,
            action="contact_logged",
            actor=user,
            at=now,
            reason="" if counts else _("Made before the ticket was created: does not count."),
            payload={
                "contact": contact.pk,
                "channel": channel,
                "attempted_at": attempted_at.isoformat(),
                "counts": counts,
            },
        )
    return contact


# --- evidence -------------------------------------------------------------------------


def evidence_upload(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    upload: UploadedFile,
    now: datetime | None = None,
) -> Evidence:
    """Store an evidence file after checking its size and its *content* type.

    Refused files leave neither a row nor a stored file behind.
    """
    now = now or timezone.now()
    max_bytes = settings.EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size == 0:
        raise field_error("file", _("The file is empty."), code="empty")
    if upload.size > max_bytes:
        raise field_error(
            "file",
            _("The file is %(size).1f MB; the limit is %(limit).0f MB.")
            % {"size": upload.size / 2**20, "limit": max_bytes / 2**20},
            code="too_large",
        )
    upload.seek(0)
    kind = evidence_files.sniff_file_kind(upload.read(evidence_files.SNIFF_BYTES))
    original_name = evidence_files.sanitize_filename(upload.name or "")
    if kind is None:
        raise field_error(
            "file",
            _("Only images, PDF, audio recordings and plain text or CSV are accepted."),
            code="unsupported_type",
        )
    if not evidence_files.name_matches_kind(original_name, kind):
        raise field_error(
            "file",
            _("The file is named %(name)s but its content is %(type)s.")
            % {"name": original_name, "type": kind.content_type},
            code="disguised",
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()

    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, *WORKABLE_STATES)
        if ticket.evidence.filter(sha256=sha256).exists():
            raise field_error(
                "file", _("This file is already attached to the ticket."), code="duplicate"
            )
        item = Evidence(
            ticket=ticket,
            original_name=original_name,
            sha256=sha256,
            size=upload.size,
            content_type=kind.content_type,
            uploaded_by=user,
            uploaded_at=now,
        )
        upload.seek(0)
        item.file.save(f"evidence.{kind.extension}", upload, save=False)
        # If the rows cannot be written, take the stored file back out.
        try:
            item.save()
            ticket_event_write(
                ticket=ticket,
                action="evidence_uploaded",
                actor=user,
                at=now,
                payload={"evidence": item.pk, "name": original_name, "sha256": sha256},
            )
        except Exception:
            item.file.delete(save=False)
            raise
    return item


# --- the reply ------------------------------------------------------------------------


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
            _escalate(ticket, actor=user, now=now, reason=_("Not settled: %s") % option.label)
    return ticket


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
    if option.requires_evidence and not ticket.evidence.exists():
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
) -> Ticket:
    """Send a ticket to platform intervention.

    - open, past its deadline: by the system (``user=None``) or CS; the merchant
      is deemed to have waived evidence (视为放弃举证).
    - replied: by CS when the consumer objects, with a reason.
    """
    now = now or timezone.now()
    if user is not None:
        require_perm(user, "tickets.escalate_ticket")
    reason = reason.strip()
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        require_state(ticket, TicketState.OPEN, TicketState.REPLIED)
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
            _escalate(ticket, actor=user, now=now, reason=reason)
    return ticket


def _escalate(
    ticket: Ticket,
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    reason: str,
    waived_evidence: bool = False,
) -> None:
    """Escalate one locked ticket through the same set-based path as the sweep."""
    tickets_escalate_locked(
        rows=[EscalationRow(ticket.pk, ticket.store_id, ticket.number, ticket.due_at)],
        from_state=ticket.state,
        actor=actor,
        now=now,
        reason=reason,
        waived_evidence=waived_evidence,
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
) -> None:
    """Escalate tickets that the caller holds locked in ``from_state``: the one
    write path for a manual escalation and the deadline sweep alike.

    A fixed number of statements whatever len(rows): one UPDATE of the tickets,
    one of their pending reminders, one INSERT of the events, one of the
    notifications for the stores.
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
                {"waived_evidence": waived_evidence, "due_at": row.due_at.isoformat()},
            )
            for row in rows
        ),
    )
    notifications_escalated(rows=rows, now=now)


# --- exemptions -----------------------------------------------------------------------

MAX_EXEMPTION_MINUTES = 7 * 24 * 60


def exemption_minutes_valid(minutes) -> bool:
    """An exemption, asked or granted, lasts from 1 minute to 7 days."""
    return isinstance(minutes, int) and 1 <= minutes <= MAX_EXEMPTION_MINUTES


def exemption_request(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    reason: str,
    minutes: int,
    now: datetime | None = None,
) -> ExemptionRequest:
    """A store hit by an outage (power cut and the like) asks for more time (JD, SPEC.md)."""
    now = now or timezone.now()
    reason = reason.strip()
    problems = {}
    if not reason:
        problems["reason"] = _("Describe what stopped the store from replying.")
    if not exemption_minutes_valid(minutes):
        problems["minutes"] = _("Ask for between 1 minute and 7 days.")
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, TicketState.OPEN)
        if ticket.exemptions.filter(status=ExemptionRequest.Status.PENDING).exists():
            raise ValidationError(
                _("An exemption request for this ticket is already waiting for a decision."),
                code="exemption_pending",
            )
        request = ExemptionRequest.objects.create(
            ticket=ticket,
            reason=reason,
            requested_minutes=minutes,
            requested_by=user,
            requested_at=now,
        )
        ticket_event_write(
            ticket=ticket,
            action="exemption_requested",
            actor=user,
            at=now,
            reason=reason,
            payload={"exemption": request.pk, "minutes": minutes},
        )
    return request


def ticket_extend_due(*, ticket: Ticket, minutes: int) -> datetime:
    """The deadline moved on by ``minutes`` on the ticket's own clock (working
    minutes for a working clock, so an extension never lands in the night)."""
    policy = ticket.policy
    return sla.compute_due_at(
        created_at=ticket.due_at,
        window=timedelta(minutes=minutes),
        clock=policy.clock,
        schedule=policy.schedule(),
    )


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new bearer token for a service account; the raw key is shown once, only its hash kept."""
    raw_key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=api_token_hash(raw_key))
    return token, raw_key


def api_token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


# --- team work inside a store ---------------------------------------------------------


def _round_robin_next(*, store: Store) -> int | None:
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


def _check_assignee(*, store: Store, assignee: AbstractBaseUser | None) -> None:
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
    _check_assignee(store=store, assignee=assignee)
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


def notifications_mark_seen(*, membership: Membership, now: datetime | None = None) -> None:
    """The member opened the notification list: everything up to now is read."""
    Membership.objects.filter(pk=membership.pk).update(notifications_seen_at=now or timezone.now())
