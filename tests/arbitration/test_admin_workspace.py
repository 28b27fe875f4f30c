"""The arbitrators' workspace in the admin: findings with a reason and a confirmation
naming the consequence, the judgment's confirm step, the queue's figures, previous /
next ticket, and the evidence previews."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.admin import format_waiting
from arbitration.models import (
    Judgment,
    PenaltyEntry,
    PenaltyPolicy,
    PenaltyRule,
    StoreDayReport,
    Violation,
)
from arbitration.selectors import queue_neighbours, store_points_in_window
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    make_evidence,
    staff_user,
)
from tickets.models import Notification, Ticket, TicketEvent, TicketKind, TicketState
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

QUEUE_URL = "admin:arbitration_escalatedticket_changelist"
# A Taobao ticket opened Tue 10:00 is escalated at its deadline, Wed 10:00 (Beijing
# time); "now" is 3 h 20 min later.
ESCALATED_AT = TUESDAY_10_SHANGHAI + timedelta(hours=24)
NOW = ESCALATED_AT + timedelta(hours=3, minutes=20)
REASON = "截图中的订单号与该订单不符，系伪造"


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def escalated_ticket(**kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judge_url(ticket) -> str:
    return reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])


def forged_url(evidence) -> str:
    return reverse(
        "admin:arbitration_escalatedticket_forged", args=[evidence.ticket_id, evidence.pk]
    )


def view_url(evidence, name="evidence") -> str:
    return reverse(
        f"admin:arbitration_escalatedticket_{name}", args=[evidence.ticket_id, evidence.pk]
    )


def written(ticket) -> tuple:
    """What marking forged or judging writes: a refused or unconfirmed POST leaves it."""
    return (
        Ticket.objects.get(pk=ticket.pk).state,
        Violation.objects.count(),
        Judgment.objects.count(),
        TicketEvent.objects.filter(ticket=ticket).count(),
        Notification.objects.filter(ticket=ticket).count(),
        LogEntry.objects.count(),
    )


def penalty(store, points: int, at) -> PenaltyEntry:
    """A ledger entry (the nightly batch writes them) on a ticket of its own."""
    return PenaltyEntry.objects.create(
        store=store,
        ticket=TicketFactory(store=store),
        rule=PenaltyRule.objects.filter(platform="jd").first(),
        action="points",
        points=points,
        occurred_at=at,
        month=date(at.year, at.month, 1),
        ordinal=1,
    )


def day_report(store, rate: str | None, day=date(2026, 11, 24)) -> StoreDayReport:
    return StoreDayReport.objects.create(
        store=store,
        day=day,
        dispute_rate=None if rate is None else Decimal(rate),
        computed_at=NOW,
    )


@pytest.fixture
def arbitrator():
    return staff_user("arbitrator")


@pytest.fixture
def arbitrator_client(client, arbitrator):
    client.force_login(arbitrator)
    return client


@pytest.fixture
def jd_store_at_40_points(arbitrator):
    """A JD store (seeded policy: 48 points in 365 days) with 40 points that count,
    and some that do not: overturned on appeal, or older than the window."""
    store = StoreFactory(jd=True)
    penalty(store, 28, NOW - timedelta(days=30))
    penalty(store, 6, NOW - timedelta(days=366))  # outside the window
    counted = make_evidence(escalated_ticket(store=store), "old.png", b"\x89PNG\r\n\x1a\n old")
    evidence_mark_forged(evidence=counted, user=arbitrator, severity="general", note="旧截图")
    overturned = make_evidence(escalated_ticket(store=store), "x.png", b"\x89PNG\r\n\x1a\n x")
    voided = evidence_mark_forged(
        evidence=overturned, user=arbitrator, severity="serious", note="已撤销"
    )
    Violation.objects.filter(pk=voided.pk).update(overturned_at=NOW - timedelta(days=1))
    return store


# --- the reason is required (the service) ---------------------------------------------


@pytest.mark.parametrize("note", ["", "   "])
def test_marking_forged_without_a_reason_is_refused_and_changes_nothing(arbitrator, note):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    before = written(ticket)

    with pytest.raises(ValidationError) as excinfo:
        evidence_mark_forged(evidence=evidence, user=arbitrator, severity="general", note=note)

    assert excinfo.value.error_dict["note"][0].code == "reason_required"
    assert written(ticket) == before


# --- points in the closure window -----------------------------------------------------


def test_points_in_window_count_ledger_and_standing_violations_only(jd_store_at_40_points):
    standing = store_points_in_window(store=jd_store_at_40_points, now=NOW)
    assert (standing.points, standing.threshold, standing.window_days) == (40, 48, 365)
    assert not standing.reached()
    assert standing.reached(52)


def test_points_without_a_policy_have_no_threshold():
    store = StoreFactory()  # Taobao: no penalty policy seeded
    assert not PenaltyPolicy.objects.filter(platform=store.platform).exists()
    standing = store_points_in_window(store=store, now=NOW)
    assert (standing.points, standing.threshold) == (0, None)
    assert not standing.reached(1000)


# --- marking evidence forged: form, confirmation, service -----------------------------


def test_forged_form_needs_a_reason(arbitrator_client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    page = arbitrator_client.get(forged_url(evidence))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="severity"' in body and 'name="note"' in body
    assert "12 points" in body and "48 points" in body
    before = written(ticket)

    # Without a reason: the error on the form, even when posted as "confirmed".
    for extra in ({}, {"confirmed": "1"}):
        response = arbitrator_client.post(
            forged_url(evidence), {"severity": "serious", "note": "  ", **extra}
        )
        assert response.status_code == 200
        message = "Give the reason for the finding: the merchant is told it."
        assert response.context["form"].errors["note"] == [message]
        assert message in response.content.decode()
        assert response.context["confirm"] is None
    assert written(ticket) == before


def test_confirmation_names_the_consequence_threshold_reached(
    arbitrator_client, jd_store_at_40_points
):
    ticket = escalated_ticket(store=jd_store_at_40_points)
    evidence = make_evidence(ticket)
    before = written(ticket)

    response = arbitrator_client.post(forged_url(evidence), {"severity": "general", "note": REASON})

    assert response.status_code == 200
    body = response.content.decode()
    assert (
        "This adds 12 points: the store will have 52 of 48 in 365 days — "
        "the closure threshold is reached." in body
    )
    assert 'name="confirmed" value="1"' in body and 'name="back"' in body
    assert REASON in body  # the reason, shown and carried to the confirmed POST
    assert written(ticket) == before  # nothing written before the confirmation


@pytest.mark.parametrize(
    ("jd", "severity", "expected"),
    [
        (
            True,
            "general",
            "This adds 12 points: the store will have 12 of 48 in 365 days — "
            "the closure threshold is not reached.",
        ),
        (
            True,
            "serious",
            "This adds 48 points: the store will have 48 of 48 in 365 days — "
            "the closure threshold is reached.",
        ),
        (
            False,
            "serious",
            "This adds 48 points: the store will have 48 in 365 days; "
            "no closure threshold is set for its platform.",
        ),
    ],
)
def test_confirmation_for_a_store_with_no_points(arbitrator_client, jd, severity, expected):
    ticket = escalated_ticket(store=StoreFactory(jd=jd))
    evidence = make_evidence(ticket)
    response = arbitrator_client.post(forged_url(evidence), {"severity": severity, "note": REASON})
    assert expected in response.content.decode()
    assert not Violation.objects.exists()


def test_back_returns_to_the_filled_in_form(arbitrator_client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    before = written(ticket)

    response = arbitrator_client.post(
        forged_url(evidence),
        {"severity": "serious", "note": REASON, "confirmed": "1", "back": "1"},
    )

    assert response.status_code == 200
    assert response.context["confirm"] is None
    assert response.context["form"]["note"].value() == REASON
    assert 'id="forged_form"' in response.content.decode()
    assert written(ticket) == before


def test_only_the_confirmed_post_writes_the_finding_and_the_reason_reaches_the_merchant(
    arbitrator_client, arbitrator
):
    member = MembershipFactory()
    ticket = escalated_ticket(store=member.store)
    evidence = make_evidence(ticket, "发货截图.png")

    response = arbitrator_client.post(
        forged_url(evidence), {"severity": "serious", "note": REASON, "confirmed": "1"}
    )

    # back to the judge page, with the finding, a log entry and a message
    assert response.status_code == 302 and response["Location"] == judge_url(ticket)
    violation = Violation.objects.get(evidence=evidence)
    assert (violation.points, violation.severity, violation.note, violation.found_by) == (
        48,
        "serious",
        REASON,
        arbitrator,
    )
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(evidence), object_id=str(evidence.pk)
    )
    assert entry.user == arbitrator and "48 points" in entry.change_message
    page = arbitrator_client.get(response["Location"])
    assert "发货截图.png marked forged" in " ".join(str(m) for m in page.context["messages"])
    # the merchant: the event on the ticket's timeline, and the notification, with the reason
    event = TicketEvent.objects.get(ticket=ticket, action="evidence_forged")
    assert event.reason == REASON
    notice = Notification.objects.get(ticket=ticket, kind="forged")
    assert REASON in notice.body
    client = arbitrator_client
    client.force_login(member.user)
    merchant_page = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert REASON in merchant_page


def test_a_file_already_forged_is_refused_on_the_page(arbitrator_client, arbitrator):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    evidence_mark_forged(evidence=evidence, user=arbitrator, severity="general", note="第一次")
    before = written(ticket)

    page = arbitrator_client.get(forged_url(evidence))
    assert "Already marked forged" in page.content.decode()
    assert 'id="forged_form"' not in page.content.decode()
    for extra in ({}, {"confirmed": "1"}):
        response = arbitrator_client.post(
            forged_url(evidence), {"severity": "serious", "note": REASON, **extra}
        )
        assert response.status_code == 200
        assert "This evidence is already marked forged." in str(
            response.context["form"].non_field_errors()
        )
        assert "This evidence is already marked forged." in response.content.decode()
    assert written(ticket) == before
    assert Violation.objects.get(evidence=evidence).points == 12


def test_cs_agent_may_not_mark_forged(client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    before = written(ticket)
    client.force_login(staff_user("cs_agent"))

    assert client.get(forged_url(evidence)).status_code == 403
    response = client.post(
        forged_url(evidence), {"severity": "serious", "note": REASON, "confirmed": "1"}
    )

    assert response.status_code == 403
    assert written(ticket) == before


def test_forged_page_only_for_a_file_of_that_ticket(arbitrator_client):
    evidence = make_evidence(escalated_ticket())
    other = escalated_ticket()
    url = reverse("admin:arbitration_escalatedticket_forged", args=[other.pk, evidence.pk])
    assert arbitrator_client.get(url).status_code == 404


# --- the judgment's confirm step ------------------------------------------------------


def test_judgment_is_recorded_only_after_the_confirmation_naming_the_rate(arbitrator_client):
    ticket = escalated_ticket()
    day_report(ticket.store, "1.2500", day=date(2026, 11, 23))
    day_report(ticket.store, "0.9000", day=date(2026, 11, 24))  # the latest one counts
    data = {"merchant_liable": "yes", "refund_amount": "59.9", "reasoning": "商家未举证"}
    before = written(ticket)

    # step 1 → 2: the confirmation, nothing written
    response = arbitrator_client.post(judge_url(ticket), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert (
        "Liable: counts toward the store&#x27;s dispute-refund rate (now 0.90% over 30 days)."
        in body
    )
    assert "The merchant is liable; refund 59.90 CNY." in body
    assert 'name="confirmed" value="1"' in body and "商家未举证" in body
    assert written(ticket) == before

    # back: the form again, as filled in
    response = arbitrator_client.post(judge_url(ticket), data | {"confirmed": "1", "back": "1"})
    assert response.context["form"]["reasoning"].value() == "商家未举证"
    assert 'name="merchant_liable"' in response.content.decode()
    assert written(ticket) == before

    # confirmed: recorded
    response = arbitrator_client.post(judge_url(ticket), data | {"confirmed": "1"})
    assert response.status_code == 302
    judgment = Judgment.objects.get(ticket=ticket)
    assert (judgment.merchant_liable, judgment.refund_amount) == (True, Decimal("59.90"))
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.JUDGED


@pytest.mark.parametrize(
    ("liable", "rate", "expected"),
    [
        ("no", "1.0", "Not liable: does not count toward the store&#x27;s dispute-refund rate."),
        (
            "yes",
            None,
            "Liable: counts toward the store&#x27;s dispute-refund rate "
            "(no rate over the last 30 days yet).",
        ),
    ],
)
def test_judgment_confirmation_other_consequences(arbitrator_client, liable, rate, expected):
    ticket = escalated_ticket()
    if rate is not None:
        day_report(ticket.store, rate)
    data = {"merchant_liable": liable, "refund_amount": "0", "reasoning": "理由"}
    response = arbitrator_client.post(judge_url(ticket), data)
    assert expected in response.content.decode()
    assert not Judgment.objects.exists()


def test_judgment_without_reasoning_is_refused_even_confirmed(arbitrator_client):
    ticket = escalated_ticket()
    before = written(ticket)
    data = {"merchant_liable": "yes", "refund_amount": "0", "reasoning": " ", "confirmed": "1"}

    response = arbitrator_client.post(judge_url(ticket), data)

    assert response.context["form"].errors["reasoning"] == ["Give the reasoning for the judgment."]
    assert written(ticket) == before


# --- the queue ------------------------------------------------------------------------


def test_queue_shows_waiting_time_rate_and_points(arbitrator_client, jd_store_at_40_points):
    jd_ticket = escalated_ticket(store=jd_store_at_40_points, number="JD-1")
    penalty(jd_store_at_40_points, 12, NOW - timedelta(hours=1))  # now 52 of 48
    day_report(jd_store_at_40_points, "2.5")
    plain = escalated_ticket(number="TB-1")  # Taobao: no policy, no report

    response = arbitrator_client.get(reverse(QUEUE_URL))

    rows = {t.number: t for t in response.context["cl"].result_list}
    assert (rows["JD-1"].points_in_window, rows["JD-1"].closure_points) == (52, 48)
    assert rows["JD-1"].dispute_rate_latest == Decimal("2.5")
    assert (rows["TB-1"].points_in_window, rows["TB-1"].closure_points) == (0, None)
    assert rows["TB-1"].dispute_rate_latest is None
    body = response.content.decode()
    assert "<span>52 / 48</span> reached" in body and "2.50%" in body
    assert "3 h 20 min" in body  # both escalated Wed 10:00, 3 h 20 min ago
    assert judge_url(jd_ticket) in body and judge_url(plain) in body
    # compact for 1440 px: the number column never wraps
    assert ".field-ticket_number" in body and "white-space: nowrap" in body


def test_queue_query_count_is_fixed_with_figures(
    arbitrator_client, arbitrator, django_assert_max_num_queries
):
    # Every row its own store, with a day report, ledger points and a finding.
    def add_row():
        store = StoreFactory(jd=True)
        day_report(store, "1.5")
        penalty(store, 2, NOW - timedelta(days=3))
        ticket = escalated_ticket(store=store, kind=TicketKind.CRC_HIGH_RISK)
        evidence_mark_forged(
            evidence=make_evidence(ticket), user=arbitrator, severity="general", note="伪造"
        )

    url = reverse(QUEUE_URL)
    for _ in range(3):
        add_row()
    with CaptureQueriesContext(connection) as few:
        response = arbitrator_client.get(url)
    assert len(response.context["cl"].result_list) == 3
    add_row()
    # session, user, permissions (2), penalty policies, count, full count, rows with
    # their store and each store's rate and points as subqueries.
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = arbitrator_client.get(url)
    assert len(response.context["cl"].result_list) == 4
    assert all(t.points_in_window == 14 for t in response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(45, "45 min"), (200, "3 h 20 min"), (60 * 53, "2 d 5 h"), (-5, "0 min")],
)
def test_waiting_time_in_words(minutes, text):
    assert format_waiting(timedelta(minutes=minutes)) == text


# --- previous / next in the queue's order ---------------------------------------------


@pytest.fixture
def queue():
    """CRC first, then the longest waiting: CRC, OLDER, NEWER (and a decided one)."""
    newer = escalated_ticket(number="NEWER")
    older = escalated_ticket(number="OLDER", created_at=TUESDAY_10_SHANGHAI - timedelta(hours=2))
    crc = escalated_ticket(
        number="CRC",
        store=StoreFactory(jd=True),
        kind=TicketKind.CRC_HIGH_RISK,
        created_at=TUESDAY_10_SHANGHAI + timedelta(hours=1),
    )
    same_time = escalated_ticket(number="NEWER-2")  # escalated with NEWER: pk breaks the tie
    TicketFactory(number="STILL-OPEN")
    return [crc, older, newer, same_time]


def test_previous_and_next_follow_the_queue_order(arbitrator_client, queue):
    listed = arbitrator_client.get(reverse(QUEUE_URL)).context["cl"].result_list
    assert [t.number for t in listed] == [t.number for t in queue]

    for index, ticket in enumerate(queue):
        with CaptureQueriesContext(connection) as queries:
            neighbours = queue_neighbours(ticket=ticket)
        assert len(queries.captured_queries) == 2
        previous = queue[index - 1] if index else None
        following = queue[index + 1] if index + 1 < len(queue) else None
        assert neighbours.previous == (previous and (previous.pk, previous.number))
        assert neighbours.next == (following and (following.pk, following.number))

    body = arbitrator_client.get(judge_url(queue[1])).content.decode()
    assert f'rel="prev" href="{judge_url(queue[0])}"' in body
    assert f'rel="next" href="{judge_url(queue[2])}"' in body
    first = arbitrator_client.get(judge_url(queue[0])).content.decode()
    assert 'rel="prev"' not in first


# --- the judge page: evidence previews, timeline --------------------------------------


def test_judge_page_shows_previews_forged_status_and_translated_timeline(
    arbitrator_client, arbitrator
):
    ticket = escalated_ticket()
    image = make_evidence(ticket, "照片.png", b"\x89PNG\r\n\x1a\n photo")
    image.thumbnail.save("thumb.jpg", ContentFile(b"\xff\xd8\xff thumb"))
    pdf = make_evidence(ticket, "发票.pdf", b"%PDF-1.4 invoice")
    audio = make_evidence(ticket, "通话.mp3", b"ID3 call")
    type(pdf).objects.filter(pk=pdf.pk).update(content_type="application/pdf")
    type(audio).objects.filter(pk=audio.pk).update(content_type="audio/mpeg")
    evidence_mark_forged(evidence=audio, user=arbitrator, severity="serious", note=REASON)

    body = arbitrator_client.get(judge_url(ticket)).content.decode()

    assert f'<img src="{view_url(image, "thumbnail")}"' in body
    assert f'<iframe src="{view_url(pdf)}"' in body and "<details>" in body
    assert f'<audio controls preload="none" src="{view_url(audio)}"' in body
    assert forged_url(image) in body and forged_url(pdf) in body
    assert forged_url(audio) not in body  # already forged: its finding instead
    assert "Forged: Serious violation (严重违规), 48 points" in body
    assert "Escalated to platform intervention" in body  # the action's label, not its code
    assert "Evidence marked forged" in body and REASON in body
    assert "waiting for 3 h 20 min" in body


def test_evidence_view_serves_inline_sandboxed(arbitrator_client):
    ticket = escalated_ticket()
    image = make_evidence(ticket, "照片.png", b"\x89PNG\r\n\x1a\n photo")
    image.thumbnail.save("thumb.jpg", ContentFile(b"\xff\xd8\xff thumb"))

    response = arbitrator_client.get(view_url(image))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG\r\n\x1a\n photo"
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # the PDF preview's <iframe>
    assert response["Cache-Control"] == "private, max-age=3600"  # never a shared cache

    thumb = arbitrator_client.get(view_url(image, "thumbnail"))
    assert b"".join(thumb.streaming_content) == b"\xff\xd8\xff thumb"
    assert thumb["Content-Type"] == "image/jpeg"
    assert thumb["X-Content-Type-Options"] == "nosniff"


def test_evidence_view_needs_the_view_evidence_permission(client):
    ticket = escalated_ticket()
    image = make_evidence(ticket)
    other = escalated_ticket()

    client.force_login(UserFactory(username="bare-staff", is_staff=True))
    assert client.get(view_url(image)).status_code == 403
    assert client.get(view_url(image, "thumbnail")).status_code == 403

    client.force_login(staff_user("cs_agent"))  # has view_evidence
    response = client.get(view_url(image))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
    wrong_ticket = reverse("admin:arbitration_escalatedticket_evidence", args=[other.pk, image.pk])
    assert client.get(wrong_ticket).status_code == 404
    # no thumbnail made for this file: nothing to serve
    assert client.get(view_url(image, "thumbnail")).status_code == 404

    # the store's own merchant is not staff: sent to the admin login
    client.force_login(MembershipFactory(store=ticket.store).user)
    response = client.get(view_url(image))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
