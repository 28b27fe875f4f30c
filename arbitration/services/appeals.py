"""Appeals (申诉): a store contests a decision against it, once, within the window; an
arbitrator other than the one who decided upholds or overturns it.

Overturning voids the decision: a liable judgment leaves the dispute-refund rate (the
report days it counted in are computed again, after commit), a forged-evidence finding
loses its points and any closure flag they raised.
"""

from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.clock import SHANGHAI
from merchants.services import store_check_member
from tickets.durations import format_local
from tickets.models import EventAction, NotificationKind
from tickets.services.common import field_error, require_perm, ticket_event_write, ticket_lock
from tickets.services.evidence import evidence_file_check
from tickets.services.notifications import merchant_language, notifications_decision

from ..models import Appeal, AppealEvidence, AppealPolicy, AppealState, Judgment, Violation
from ..penalties import settlement_points_refresh
from ..reports import RATE_WINDOW_DAYS, local_yesterday
from ..signals import reports_stale

DEFAULT_WINDOW_DAYS = 7  # ours (SPEC.md leaves it to the platform)
MAX_FILES = 5
STATEMENT_MAX = 2000


def appeal_window_days(*, platform: str) -> int:
    policy = AppealPolicy.objects.filter(platform=platform).first()
    return policy.window_days if policy else DEFAULT_WINDOW_DAYS


def _decided_at(decision: Judgment | Violation) -> datetime:
    return decision.judged_at if isinstance(decision, Judgment) else decision.found_at


def _decided_by_id(decision: Judgment | Violation) -> int:
    return decision.judged_by_id if isinstance(decision, Judgment) else decision.found_by_id


class AppealOpening(NamedTuple):
    """Whether a store may appeal a decision now, and until when."""

    allowed: bool
    deadline: datetime | None
    appeal: Appeal | None
    reason: str  # why not, when not allowed


def appeal_openings(*, decisions: list[Judgment | Violation], now: datetime) -> list[AppealOpening]:
    """Read-only: for each decision, what the ticket page shows next to it (the 申诉
    button with its deadline, or why there is none); the rules ``appeal_file``
    enforces. The platform's window is read once (a page's query count is pinned)."""
    windows: dict[str, timedelta] = {}
    openings = []
    for decision in decisions:
        existing = getattr(decision, "appeal", None)
        if isinstance(decision, Judgment) and not decision.merchant_liable:
            opening = AppealOpening(False, None, None, _("The judgment is not against the store."))
        elif existing is not None:
            opening = AppealOpening(False, None, existing, _("This decision has been appealed."))
        elif decision.overturned_at is not None:
            opening = AppealOpening(False, None, None, _("This decision was overturned."))
        else:
            platform = decision.ticket.store.platform
            if platform not in windows:
                windows[platform] = timedelta(days=appeal_window_days(platform=platform))
            deadline = _decided_at(decision) + windows[platform]
            if now > deadline:
                opening = AppealOpening(False, deadline, None, _("The appeal window has closed."))
            else:
                opening = AppealOpening(True, deadline, None, "")
        openings.append(opening)
    return openings


def appeal_opening(*, decision: Judgment | Violation, now: datetime) -> AppealOpening:
    (opening,) = appeal_openings(decisions=[decision], now=now)
    return opening


def appeal_file(
    *,
    user: AbstractBaseUser,
    statement: str,
    judgment: Judgment | None = None,
    violation: Violation | None = None,
    files: list[UploadedFile] = (),
    now: datetime | None = None,
) -> Appeal:
    """A store member appeals a liable judgment or a forged-evidence finding of the
    store's, once, within the window, with a statement and up to 5 new files.

    Refused appeals (late, twice, not the store's, nothing to appeal) write nothing:
    no row, no stored file."""
    now = now or timezone.now()
    if (judgment is None) == (violation is None):
        raise ValidationError(_("Appeal one decision: a judgment or a finding."), code="decision")
    statement = statement.strip()
    if not statement:
        raise field_error("statement", _("Say why the decision is wrong."), code="required")
    if len(statement) > STATEMENT_MAX:
        raise field_error(
            "statement",
            _("Keep the statement under %(limit)d characters.") % {"limit": STATEMENT_MAX},
            code="too_long",
        )
    files = list(files)
    if len(files) > MAX_FILES:
        raise field_error(
            "files", _("Send at most %(n)d files.") % {"n": MAX_FILES}, code="too_many"
        )
    checked = [evidence_file_check(upload, field="files") for upload in files]
    model = Judgment if judgment is not None else Violation
    stored = []
    try:
        with transaction.atomic():
            decision = (
                model.objects.select_for_update()
                .select_related("ticket__store")
                .get(pk=(judgment or violation).pk)
            )
            ticket = ticket_lock(ticket=decision.ticket)
            store_check_member(user=user, store=ticket.store)
            opening = appeal_opening(decision=decision, now=now)
            if not opening.allowed:
                code = "twice" if opening.appeal else "not_open"
                if opening.deadline is not None and now > opening.deadline:
                    code = "late"
                raise ValidationError(opening.reason, code=code)
            appeal = Appeal.objects.create(
                store=ticket.store,
                ticket=ticket,
                judgment=decision if model is Judgment else None,
                violation=decision if model is Violation else None,
                statement=statement,
                filed_by=user,
                filed_at=now,
            )
            seen = set()
            for upload, (kind, name, sha256) in zip(files, checked, strict=True):
                if sha256 in seen:
                    continue
                seen.add(sha256)
                item = AppealEvidence(
                    appeal=appeal,
                    original_name=name,
                    sha256=sha256,
                    size=upload.size,
                    content_type=kind.content_type,
                    uploaded_at=now,
                )
                upload.seek(0)
                item.file.save(f"{sha256}.{kind.extension}", upload, save=False)
                stored.append(item.file)
                item.save()
            ticket_event_write(
                ticket=ticket,
                action=EventAction.APPEAL_FILED,
                actor=user,
                at=now,
                reason=statement,
                payload={
                    "appeal": appeal.pk,
                    "decision": model.__name__.lower(),
                    "files": len(seen),
                },
            )
    except IntegrityError:
        # Two appeals of one decision raced; the other one won.
        for file in stored:
            file.delete(save=False)
        raise ValidationError(_("This decision has been appealed."), code="twice") from None
    except BaseException:
        for file in stored:
            file.delete(save=False)
        raise
    return appeal


def appeal_decide(
    *,
    appeal: Appeal,
    user: AbstractBaseUser,
    overturn: bool,
    reasoning: str,
    now: datetime | None = None,
) -> Appeal:
    """An arbitrator, never the one who made the decision, upholds or overturns it."""
    now = now or timezone.now()
    require_perm(user, "arbitration.decide_appeal")
    reasoning = reasoning.strip()
    if not reasoning:
        raise field_error("reasoning", _("Give the reasoning for the decision."), code="required")
    with transaction.atomic():
        ticket = ticket_lock(ticket=appeal.ticket)
        appeal = (
            Appeal.objects.select_for_update(of=("self",))
            .select_related("judgment", "violation__evidence")
            .get(pk=appeal.pk)
        )
        if appeal.state != AppealState.FILED:
            raise ValidationError(_("This appeal has already been decided."), code="decided")
        decision = appeal.decision
        if _decided_by_id(decision) == user.pk:
            raise ValidationError(
                _("The arbitrator who made the decision cannot decide its appeal."),
                code="same_arbitrator",
            )
        if overturn:
            appeal.overturn()
            type(decision).objects.filter(pk=decision.pk).update(overturned_at=now)
        else:
            appeal.uphold()
        appeal.decided_by = user
        appeal.decided_at = now
        appeal.reasoning = reasoning
        appeal.save()
        event = ticket_event_write(
            ticket=ticket,
            action=EventAction.APPEAL_OVERTURNED if overturn else EventAction.APPEAL_UPHELD,
            actor=user,
            at=now,
            reason=reasoning,
            payload={"appeal": appeal.pk, "decision": type(decision).__name__.lower()}
            | ({"points_removed": decision.points} if isinstance(decision, Violation) else {}),
        )
        with merchant_language():
            notifications_decision(
                ticket=ticket,
                kind=NotificationKind.APPEAL,
                cause=event.pk,
                title=_appeal_title(ticket.number, decision, overturn),
                body=_("The platform's reasoning: %(reasoning)s") % {"reasoning": reasoning},
                now=now,
            )
        if overturn:
            _after_overturn(decision=decision, store=ticket.store, now=now)
    return appeal


def _appeal_title(number: str, decision: Judgment | Violation, overturn: bool) -> str:
    facts = {"number": number}
    if isinstance(decision, Judgment):
        if overturn:
            return (
                _(
                    "Ticket %(number)s: appeal accepted, the judgment is overturned and no longer "
                    "counts toward the dispute rate"
                )
                % facts
            )
        return _("Ticket %(number)s: appeal rejected, the judgment stands") % facts
    facts["points"] = decision.points
    if overturn:
        return (
            _(
                "Ticket %(number)s: appeal accepted, the forged-evidence finding is overturned "
                "and its %(points)d points removed"
            )
            % facts
        )
    return _("Ticket %(number)s: appeal rejected, the forged-evidence finding stands") % facts


def _after_overturn(*, decision: Judgment | Violation, store, now: datetime) -> None:
    """The decision's effects go: the closure flag its points raised now, the report
    days that counted it after commit (a back-fill of its window up to yesterday)."""
    decided_day = _decided_at(decision).astimezone(SHANGHAI).date()
    if isinstance(decision, Judgment):
        # A liable judgment is in the rolling rate of the 30 days from its own.
        last = decided_day + timedelta(days=RATE_WINDOW_DAYS - 1)
    else:
        settlement_points_refresh(store=store)
        last = decided_day
    last = min(last, local_yesterday(now))
    if last >= decided_day:
        transaction.on_commit(
            lambda: reports_stale.send(sender=Appeal, start=decided_day, end=last)
        )


def appeal_deadline_text(deadline: datetime) -> str:
    return format_local(deadline, SHANGHAI)
