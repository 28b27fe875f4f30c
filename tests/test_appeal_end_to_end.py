"""End to end: a store appeals in the dashboard, another arbitrator overturns in the
admin, and the next nightly report shows the dispute-refund rate restored and the
forged-evidence points gone (the days already reported are back-filled too)."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from arbitration.models import AppealState, StoreDayReport
from arbitration.reports import report_day
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from arbitration.tasks import nightly_reports
from merchants.models import DailyOrderVolume
from tests.factories import (
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tickets.models import Notification
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DECIDED_DAY = date(2026, 11, 26)  # the judgment and the finding, Thursday
DECIDED_AT = datetime(2026, 11, 26, 15, 0, tzinfo=SHANGHAI)
APPEALED_AT = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
OVERTURNED_AT = datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)
NEXT_NIGHT = datetime(2026, 11, 28, 2, 0, tzinfo=SHANGHAI)  # the nightly run for the 27th


def report(store, day):
    return StoreDayReport.objects.get(store=store, day=day)


def test_appeal_in_the_dashboard_overturn_in_admin_and_the_next_report_is_restored(
    django_capture_on_commit_callbacks,
):
    # given a store with paid orders, a liable judgment and a serious forged-evidence finding
    store = StoreFactory()
    owner = MembershipFactory(store=store).user
    for offset in range(35):
        DailyOrderVolume.objects.create(
            store=store, date=DECIDED_DAY - timedelta(days=30 - offset), paid_orders=50
        )
    judge = staff_user("arbitrator", "judge-1")
    judged_ticket = TicketFactory(store=store, created_at=DECIDED_AT - timedelta(days=2))
    judged_ticket.due_at = DECIDED_AT - timedelta(days=1)
    judged_ticket.save()
    ticket_escalate(ticket=judged_ticket, user=None, now=DECIDED_AT - timedelta(hours=20))
    judgment = ticket_judge(
        ticket=judged_ticket,
        user=judge,
        merchant_liable=True,
        refund_amount="99.00",
        reasoning="商家未举证",
        now=DECIDED_AT,
    )
    forged_ticket = TicketFactory(store=store, created_at=DECIDED_AT - timedelta(hours=3))
    violation = evidence_mark_forged(
        evidence=make_evidence(forged_ticket),
        user=judge,
        severity="serious",
        note="截图时间晚于工单创建时间",
        now=DECIDED_AT,
    )
    report_day(day=DECIDED_DAY)
    assert report(store, DECIDED_DAY).dispute_rate > 0
    assert report(store, DECIDED_DAY).violation_points == 48

    # when the owner appeals both from the dashboard
    merchant = Client()
    merchant.force_login(owner)
    with time_machine.travel(APPEALED_AT, tick=False):
        for ticket, key in (
            (judged_ticket, f"judgment-{judgment.pk}"),
            (forged_ticket, f"finding-{violation.pk}"),
        ):
            response = merchant.post(
                reverse("ticket_appeal", args=[ticket.pk]),
                {"decision": key, "statement": "我们在时限内已联系买家，附通话记录"},
            )
            assert response.status_code == 302, response.content.decode()[:500]
    judgment.refresh_from_db()
    violation.refresh_from_db()
    assert judgment.appeal.state == violation.appeal.state == AppealState.FILED
    listed = merchant.get(reverse("appeals")).content.decode()
    assert judged_ticket.number in listed and forged_ticket.number in listed

    # and another arbitrator overturns both in the admin
    staff = Client()
    staff.force_login(staff_user("arbitrator", "judge-2"))
    with (
        time_machine.travel(OVERTURNED_AT, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        for appeal in (judgment.appeal, violation.appeal):
            response = staff.post(
                reverse("admin:arbitration_appeal_decide", args=[appeal.pk]),
                {"decision": "overturn", "reasoning": "复核通话记录，商家已及时处理"},
            )
            assert response.status_code == 302

    # then the reported day is back-filled at once...
    assert report(store, DECIDED_DAY).dispute_rate == Decimal("0")
    assert report(store, DECIDED_DAY).judged_liable == 0
    assert report(store, DECIDED_DAY).violation_points == 0
    # ...the next nightly report shows the rate restored...
    with time_machine.travel(NEXT_NIGHT, tick=False):
        nightly_reports()
    next_day = report(store, date(2026, 11, 27))
    assert (next_day.liable_30d, next_day.dispute_rate) == (0, Decimal("0"))
    assert next_day.violation_points == 0
    # ...and the store was told, with the reasoning, in the dashboard it appealed from.
    notices = Notification.objects.filter(store=store, kind="appeal")
    assert notices.count() == 2
    assert all("复核通话记录" in n.body for n in notices)
    page = merchant.get(reverse("ticket_detail", args=[judged_ticket.pk])).content.decode()
    assert "复核通话记录" in page
