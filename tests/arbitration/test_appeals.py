"""Appeals (申诉): every rule and every refusal of filing and deciding, and what an
overturn undoes (the dispute-refund rate, violation points, the closure flag)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from arbitration.models import (
    Appeal,
    AppealEvidence,
    AppealPolicy,
    AppealState,
    PenaltyPolicy,
    SettlementStatement,
    StoreDayReport,
)
from arbitration.reports import report_day
from arbitration.services.appeals import appeal_decide, appeal_file, appeal_opening
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from merchants.models import DailyOrderVolume
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tickets.models import Notification, TicketEvent
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
T0 = TUESDAY_10_SHANGHAI  # ticket created; 24 h policy: due Wed 10:00
JUDGED_AT = T0 + timedelta(days=2)  # Thu 10:00 Beijing time


def escalated(store):
    ticket = TicketFactory(store=store)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judged(store, *, liable=True, judge=None):
    ticket = escalated(store)
    return ticket_judge(
        ticket=ticket,
        user=judge or staff_user("arbitrator", "judge-1"),
        merchant_liable=liable,
        refund_amount="30.00",
        reasoning="商家未举证",
        now=JUDGED_AT,
    )


def forged(store, *, severity="serious", finder=None):
    ticket = escalated(store)
    return evidence_mark_forged(
        evidence=make_evidence(ticket),
        user=finder or staff_user("arbitrator", "judge-1"),
        severity=severity,
        note="截图时间被篡改",
        now=JUDGED_AT,
    )


@pytest.fixture
def store():
    return StoreFactory()


@pytest.fixture
def member(store):
    return MembershipFactory(store=store).user


def file_(judgment=None, violation=None, *, user, statement="我们已在时限内联系买家", **kwargs):
    kwargs.setdefault("now", JUDGED_AT + timedelta(days=1))
    return appeal_file(
        user=user, statement=statement, judgment=judgment, violation=violation, **kwargs
    )


def nothing_written():
    return not Appeal.objects.exists() and not AppealEvidence.objects.exists()


# --- filing ---------------------------------------------------------------------------


def test_a_member_appeals_a_liable_judgment_with_a_statement_and_a_file(store, member, settings):
    judgment = judged(store)
    upload = SimpleUploadedFile("聊天记录.png", PNG, content_type="image/png")

    appeal = file_(judgment, user=member, files=[upload])

    assert (appeal.state, appeal.store, appeal.ticket) == (
        AppealState.FILED,
        store,
        judgment.ticket,
    )
    (item,) = appeal.files.all()
    assert (item.original_name, item.content_type, item.size) == (
        "聊天记录.png",
        "image/png",
        len(PNG),
    )
    with item.file.open("rb") as stored:
        assert stored.read() == PNG
    event = TicketEvent.objects.get(ticket=judgment.ticket, action="appeal_filed")
    assert event.actor == member and event.reason == "我们已在时限内联系买家"
    assert event.payload == {"appeal": appeal.pk, "decision": "judgment", "files": 1}


def test_a_forged_evidence_finding_can_be_appealed(store, member):
    violation = forged(store)
    appeal = file_(violation=violation, user=member)
    assert appeal.violation == violation and appeal.judgment is None


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("late", "late"),
        ("twice", "twice"),
        ("not_liable", "not_open"),
        ("empty", "required"),
        ("disguised", "unsupported_type"),
        ("too_many", "too_many"),
    ],
)
def test_refused_appeals_write_nothing(store, member, settings, case, code):
    judgment = judged(store, liable=case != "not_liable")
    kwargs = {}
    if case == "late":
        kwargs["now"] = JUDGED_AT + timedelta(days=7, seconds=1)
    if case == "twice":
        file_(judgment, user=member)
    if case == "empty":
        kwargs["statement"] = "   "
    if case == "disguised":
        kwargs["files"] = [SimpleUploadedFile("x.png", b"<html><script>", content_type="image/png")]
    if case == "too_many":
        kwargs["files"] = [
            SimpleUploadedFile(f"{i}.png", PNG + bytes([i]), content_type="image/png")
            for i in range(6)
        ]
    before = (Appeal.objects.count(), AppealEvidence.objects.count(), TicketEvent.objects.count())

    with pytest.raises(ValidationError) as excinfo:
        file_(judgment, user=member, **kwargs)

    codes = (
        [e.code for errors in excinfo.value.error_dict.values() for e in errors]
        if hasattr(excinfo.value, "error_dict")
        else [excinfo.value.code]
    )
    assert code in codes
    after = (Appeal.objects.count(), AppealEvidence.objects.count(), TicketEvent.objects.count())
    assert after == before


def test_another_stores_member_cannot_appeal(store):
    judgment = judged(store)
    with pytest.raises(PermissionDenied):
        file_(judgment, user=MembershipFactory().user)
    assert nothing_written()


def test_the_window_is_data_ops_change(store, member):
    AppealPolicy.objects.filter(platform=store.platform).update(window_days=2)
    judgment = judged(store)
    opening = appeal_opening(decision=judgment, now=JUDGED_AT)
    assert opening.allowed and opening.deadline == JUDGED_AT + timedelta(days=2)
    with pytest.raises(ValidationError) as excinfo:
        file_(judgment, user=member, now=JUDGED_AT + timedelta(days=3))
    assert excinfo.value.code == "late"
    assert nothing_written()


def test_a_refused_appeal_leaves_no_stored_file(store, member, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    judgment = judged(store)
    good = SimpleUploadedFile("a.png", PNG, content_type="image/png")
    bad = SimpleUploadedFile("b.png", b"MZ\x90\x00 executable", content_type="image/png")
    with pytest.raises(ValidationError):
        file_(judgment, user=member, files=[good, bad])
    assert nothing_written()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "appeals" in p.parts]


# --- deciding -------------------------------------------------------------------------


def test_another_arbitrator_upholds_with_reasoning_and_the_store_is_told(store, member):
    appeal = file_(judged(store), user=member)
    other = staff_user("arbitrator", "judge-2")

    decided = appeal_decide(appeal=appeal, user=other, overturn=False, reasoning="证据不足")

    assert (decided.state, decided.decided_by, decided.reasoning) == (
        AppealState.UPHELD,
        other,
        "证据不足",
    )
    assert decided.judgment.overturned_at is None
    assert TicketEvent.objects.filter(ticket=appeal.ticket, action="appeal_upheld").exists()
    notice = Notification.objects.get(store=store, kind="appeal")
    assert "证据不足" in notice.body


@pytest.mark.parametrize(
    ("who", "reasoning", "error"),
    [
        ("judge-1", "理由", ValidationError),  # the arbitrator who decided
        ("judge-2", "  ", ValidationError),  # no reasoning
        ("cs", "理由", PermissionDenied),  # not an arbitrator
    ],
)
def test_refused_decisions_change_nothing(store, member, who, reasoning, error):
    appeal = file_(judged(store), user=member)
    user = staff_user("cs_agent") if who == "cs" else staff_user("arbitrator", who)
    events = TicketEvent.objects.count()
    with pytest.raises(error) as excinfo:
        appeal_decide(appeal=appeal, user=user, overturn=True, reasoning=reasoning)
    if who == "judge-1":
        assert excinfo.value.code == "same_arbitrator"
    appeal.refresh_from_db()
    assert appeal.state == AppealState.FILED and appeal.decided_by is None
    assert appeal.judgment.overturned_at is None
    assert TicketEvent.objects.count() == events


def test_an_appeal_is_decided_once(store, member):
    appeal = file_(judged(store), user=member)
    other = staff_user("arbitrator", "judge-2")
    appeal_decide(appeal=appeal, user=other, overturn=False, reasoning="维持")
    with pytest.raises(ValidationError) as excinfo:
        appeal_decide(appeal=appeal, user=other, overturn=True, reasoning="改判")
    assert excinfo.value.code == "decided"
    appeal.refresh_from_db()
    assert appeal.state == AppealState.UPHELD


def test_the_state_field_is_protected(store, member):
    appeal = file_(judged(store), user=member)
    with pytest.raises(AttributeError):
        appeal.state = AppealState.OVERTURNED


def day_rate(store, day):
    return StoreDayReport.objects.get(store=store, day=day).dispute_rate


def test_overturning_a_liable_judgment_restores_the_dispute_rate_of_every_day_it_counted(
    store, member, django_capture_on_commit_callbacks
):
    judged_day = date(2026, 11, 26)
    for offset in range(40):
        DailyOrderVolume.objects.create(
            store=store,
            date=judged_day - timedelta(days=5) + timedelta(days=offset),
            paid_orders=100,
        )
    judgment = judged(store)
    for offset in range(3):
        report_day(day=judged_day + timedelta(days=offset))
    assert day_rate(store, judged_day) > 0
    appeal = file_(judgment, user=member)

    # Decided on 29 Nov: the back-fill recomputes 26-28 Nov (up to yesterday) after commit.
    with (
        time_machine.travel(JUDGED_AT + timedelta(days=3), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appeal_decide(
            appeal=appeal, user=staff_user("arbitrator", "judge-2"), overturn=True, reasoning="改判"
        )

    for offset in range(3):
        assert day_rate(store, judged_day + timedelta(days=offset)) == Decimal("0")
    assert StoreDayReport.objects.get(store=store, day=judged_day).judged_liable == 0
    judgment.refresh_from_db()
    assert judgment.overturned_at is not None
    assert TicketEvent.objects.filter(ticket=judgment.ticket, action="appeal_overturned").exists()


def test_overturning_a_forged_finding_removes_its_points_and_the_closure_flag(
    store, member, django_capture_on_commit_callbacks
):
    PenaltyPolicy.objects.update_or_create(
        platform=store.platform, defaults={"closure_points": 48, "window_days": 365}
    )
    violation = forged(store, severity="serious")
    statement = SettlementStatement.objects.create(
        store=store,
        month=date(2026, 11, 1),
        payable=0,
        fines=0,
        deducted_from_payable=0,
        deposit_before=0,
        deducted_from_deposit=0,
        deposit_after=0,
        shortfall=0,
        net_payable=0,
        points_in_window=48,
        closure_flag=True,
        created_at=JUDGED_AT,
    )
    report_day(day=date(2026, 11, 26))
    assert StoreDayReport.objects.get(store=store, day=date(2026, 11, 26)).violation_points == 48
    appeal = file_(violation=violation, user=member)

    with (
        time_machine.travel(JUDGED_AT + timedelta(days=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appeal_decide(
            appeal=appeal, user=staff_user("arbitrator", "judge-2"), overturn=True, reasoning="撤销"
        )

    statement.refresh_from_db()
    assert (statement.points_in_window, statement.closure_flag) == (0, False)
    assert StoreDayReport.objects.get(store=store, day=date(2026, 11, 26)).violation_points == 0
    event = TicketEvent.objects.get(action="appeal_overturned")
    assert event.payload["points_removed"] == 48


def test_the_timeline_shows_the_statement_and_the_reasoning(store, member):
    from tickets.selectors import ticket_detail, timeline_entries

    appeal = file_(violation=forged(store), user=member, statement="原始截图在此")
    appeal_decide(
        appeal=appeal, user=staff_user("arbitrator", "judge-2"), overturn=True, reasoning="撤销"
    )
    ticket = ticket_detail(ticket_id=appeal.ticket_id, store=store)
    rows = {row.action: row for row in timeline_entries(ticket=ticket)}
    assert "原始截图在此" in rows["appeal_filed"].reason
    overturned = rows["appeal_overturned"]
    assert "撤销" in overturned.reason
    assert "48 violation points removed" in overturned.details
