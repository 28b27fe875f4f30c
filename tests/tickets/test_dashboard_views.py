"""The merchant inbox and ticket page: scoping, filters, htmx partials, forms, 404s."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import TUESDAY_10_SHANGHAI, MembershipFactory, StoreFactory
from tickets.models import ContactAttempt, Evidence, ExemptionRequest, Reminder, Ticket, TicketKind
from tickets.services.contacts import contact_log
from tickets.services.evidence import evidence_upload
from tickets.services.intake import ticket_open
from tickets.services.sweeps import sweep_run

pytestmark = pytest.mark.django_db

NOW = TUESDAY_10_SHANGHAI + timedelta(hours=2)  # Tue 12:00 Asia/Shanghai
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role="owner")
    client.force_login(membership.user)
    return membership


def opened(store, number, **kwargs):
    kwargs.setdefault("now", TUESDAY_10_SHANGHAI)
    ticket, _ = ticket_open(
        store=store, number=number, order_number=f"O-{number}", summary="s", **kwargs
    )
    return ticket


def body(response) -> str:
    return response.content.decode()


# --- inbox ----------------------------------------------------------------------------


def test_inbox_lists_own_tickets_crc_first(client):
    membership = MembershipFactory(store=StoreFactory(jd=True))
    client.force_login(membership.user)
    opened(membership.store, "N-1")
    opened(membership.store, "CRC-1", kind=TicketKind.CRC_HIGH_RISK)
    opened(StoreFactory(), "OTHER-1")
    html = body(client.get(reverse("home")))
    assert "N-1" in html and "CRC-1" in html and "OTHER-1" not in html
    assert html.index("CRC-1") < html.index("N-1")
    # SLA badges in words, on each ticket's own clock: CRC 4 working hours from 10:00.
    assert 'role="timer"' in html and "2:00 left" in html


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"q": "ALPHA"}, ["ALPHA-1"], ["BETA-1"]),
        ({"q": "O-BETA"}, ["BETA-1"], ["ALPHA-1"]),
        ({"state": "escalated"}, ["LATE-1"], ["ALPHA-1"]),
        ({"kind": "normal", "overdue": "on"}, [], ["ALPHA-1", "LATE-1"]),
        ({"created_from": "2026-11-20", "created_to": "2026-11-21"}, ["OLD-1"], ["ALPHA-1"]),
    ],
)
def test_inbox_filters(client, owner, params, shown, hidden):
    opened(owner.store, "ALPHA-1")
    opened(owner.store, "BETA-1")
    late = opened(owner.store, "LATE-1", now=NOW - timedelta(days=2))
    sweep_run(now=NOW)  # escalates LATE-1
    late.refresh_from_db()
    assert late.state == "escalated"
    old = opened(owner.store, "OLD-1", now=NOW - timedelta(days=4))
    assert old.pk
    html = body(client.get(reverse("home"), params))
    for number in shown:
        assert number in html
    for number in hidden:
        assert number not in html


def test_inbox_mine_filter(client, owner):
    mine = opened(owner.store, "MINE-1")
    opened(owner.store, "NOBODY-1")
    Ticket.objects.filter(pk=mine.pk).update(assignee=owner.user)
    html = body(client.get(reverse("home"), {"mine": "on"}))
    assert "MINE-1" in html and "NOBODY-1" not in html


def test_inbox_htmx_request_gets_the_list_partial_only(client, owner):
    opened(owner.store, "ALPHA-1")
    response = client.get(reverse("home"), {"q": "ALPHA"}, HTTP_HX_TARGET="ticket-list", **HTMX)
    html = body(response)
    assert "ALPHA-1" in html
    assert "<html" not in html and 'id="filters"' not in html


def test_inbox_paginates(client, owner):
    for i in range(30):
        opened(owner.store, f"P-{i:02d}", now=TUESDAY_10_SHANGHAI + timedelta(minutes=i))
    first = body(client.get(reverse("home")))
    second = body(client.get(reverse("home"), {"page": 2}))
    assert "P-00" in first and "P-29" not in first
    assert "P-29" in second and "P-00" not in second


def test_inbox_query_count_is_fixed(client, owner, django_assert_max_num_queries):
    jd_member = MembershipFactory(user=owner.user, store=StoreFactory(jd=True))
    client.post(reverse("store_switch"), {"store": jd_member.store_id})
    for i in range(2):
        opened(jd_member.store, f"A{i}")
        opened(jd_member.store, f"C{i}", kind=TicketKind.CRC_HIGH_RISK)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"))
    for i in range(2, 12):
        opened(jd_member.store, f"A{i}")
        opened(jd_member.store, f"C{i}", kind=TicketKind.CRC_HIGH_RISK)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("home"))


def test_store_switcher_changes_the_inbox_and_refuses_foreign_stores(client, owner):
    second = MembershipFactory(user=owner.user, store=StoreFactory())
    opened(owner.store, "FIRST-1")
    opened(second.store, "SECOND-1")
    foreign = StoreFactory()
    assert client.post(reverse("store_switch"), {"store": foreign.pk}).status_code == 404
    client.post(reverse("store_switch"), {"store": second.store_id})
    html = body(client.get(reverse("home")))
    assert "SECOND-1" in html and "FIRST-1" not in html


def test_user_without_a_store_is_told_so(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "not a member of any store" in body(response)


# --- bulk and single assignment -------------------------------------------------------


def test_owner_assigns_selected_tickets(client, owner):
    staff = MembershipFactory(store=owner.store, role="after_sales")
    a, b, c = (opened(owner.store, n) for n in ("A-1", "B-1", "C-1"))
    response = client.post(
        reverse("ticket_assign"), {"ticket": [a.pk, b.pk], "assignee": staff.user_id}, **HTMX
    )
    assert response.status_code == 200
    assert "2 tickets assigned" in body(response)
    assigned = dict(Ticket.objects.values_list("number", "assignee"))
    assert assigned == {"A-1": staff.user_id, "B-1": staff.user_id, "C-1": None}
    assert c.events.filter(action="assigned").count() == 0


def test_assigning_another_stores_ticket_changes_nothing(client, owner):
    mine = opened(owner.store, "MINE-1")
    theirs = opened(StoreFactory(), "THEIRS-1")
    response = client.post(
        reverse("ticket_assign"),
        {"ticket": [mine.pk, theirs.pk], "assignee": owner.user_id},
        **HTMX,
    )
    assert response.status_code == 403
    assert not Ticket.objects.exclude(assignee=None).exists()


def test_after_sales_staff_cannot_assign(client):
    staff = MembershipFactory(role="after_sales")
    client.force_login(staff.user)
    ticket = opened(staff.store, "T-1")
    response = client.post(
        reverse("ticket_assign"), {"ticket": [ticket.pk], "assignee": staff.user_id}, **HTMX
    )
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_round_robin_gives_new_tickets_to_on_duty_staff_in_turn():
    store = StoreFactory(round_robin=True)
    first = MembershipFactory(store=store, role="after_sales")
    MembershipFactory(store=store, role="after_sales", on_duty=False)
    third = MembershipFactory(store=store, role="after_sales")
    assignees = [opened(store, f"R-{i}").assignee_id for i in range(4)]
    assert assignees == [first.user_id, third.user_id, first.user_id, third.user_id]


def test_reminders_go_to_the_assignee(client, owner):
    ticket = opened(owner.store, "ASSIGNED-1")
    Ticket.objects.filter(pk=ticket.pk).update(assignee=owner.user)
    sweep_run(now=TUESDAY_10_SHANGHAI + timedelta(hours=12))
    assert ticket.notifications.get(kind="reminder").recipient == owner.user
    assert Reminder.objects.get(ticket=ticket, offset_minutes=720).status == "sent"


# --- the ticket page ------------------------------------------------------------------


def test_ticket_page_shows_the_ticket_masked(client, owner):
    ticket = opened(owner.store, "T-1", consumer_name="张三丰", consumer_phone="13812345678")
    html = body(client.get(reverse("ticket_detail", args=[ticket.pk])))
    assert "T-1" in html and "138****5678" in html and "张**" in html
    assert "13812345678" not in html and "张三丰" not in html


def test_ticket_page_query_count_is_fixed(client, owner, django_assert_max_num_queries):
    ticket = opened(owner.store, "T-1")

    def add(n, start):
        for i in range(start, start + n):
            at = TUESDAY_10_SHANGHAI + timedelta(minutes=5 + i)
            contact_log(ticket=ticket, user=owner.user, channel="phone", attempted_at=at, now=NOW)
            from django.core.files.uploadedfile import SimpleUploadedFile

            evidence_upload(
                ticket=ticket,
                user=owner.user,
                upload=SimpleUploadedFile(f"p{i}.png", PNG + bytes([i])),
                now=NOW,
            )

    add(2, 0)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("ticket_detail", args=[ticket.pk]))
    add(5, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("ticket_detail", args=[ticket.pk]))


@pytest.mark.parametrize(
    ("name", "method", "data"),
    [
        ("ticket_detail", "get", None),
        ("ticket_contact_add", "post", {"channel": "phone", "attempted_at": "2026-11-24T11:00"}),
        ("ticket_evidence_add", "post", {}),
        ("ticket_reply", "post", {"option": "1"}),
        ("ticket_exemption", "post", {"reason": "停电", "minutes": "60"}),
        ("ticket_assign_one", "post", {"assignee": ""}),
    ],
)
def test_another_stores_ticket_is_404_everywhere(client, owner, name, method, data):
    theirs = opened(StoreFactory(), "THEIRS-1")
    response = getattr(client, method)(reverse(name, args=[theirs.pk]), data or {})
    assert response.status_code == 404
    assert not ContactAttempt.objects.exists()
    assert not ExemptionRequest.objects.exists()
    theirs.refresh_from_db()
    assert theirs.state == "open" and theirs.assignee is None


def test_another_stores_evidence_file_is_404(client, owner):
    other = MembershipFactory()
    theirs = opened(other.store, "THEIRS-1")
    from django.core.files.uploadedfile import SimpleUploadedFile

    item = evidence_upload(
        ticket=theirs, user=other.user, upload=SimpleUploadedFile("a.png", PNG), now=NOW
    )
    url = reverse("ticket_evidence_download", args=[theirs.pk, item.pk])
    assert client.get(url).status_code == 404
    mine = opened(owner.store, "MINE-1")
    assert (
        client.get(reverse("ticket_evidence_download", args=[mine.pk, item.pk])).status_code == 404
    )


def test_contact_form_adds_an_attempt_in_place(client, owner):
    ticket = opened(owner.store, "T-1")
    response = client.post(
        reverse("ticket_contact_add", args=[ticket.pk]),
        {"channel": "phone", "attempted_at": "2026-11-24T11:30", "note": "已致电"},
        **HTMX,
    )
    html = body(response)
    assert response.status_code == 200
    assert 'id="contacts"' in html and "已致电" in html and "<html" not in html
    contact = ContactAttempt.objects.get()
    assert contact.attempted_at == TUESDAY_10_SHANGHAI + timedelta(hours=1, minutes=30)


def test_contact_in_the_future_is_refused_inline(client, owner):
    ticket = opened(owner.store, "T-1")
    response = client.post(
        reverse("ticket_contact_add", args=[ticket.pk]),
        {"channel": "phone", "attempted_at": "2026-11-24T18:00"},
        **HTMX,
    )
    html = body(response)
    assert 'role="alert"' in html and "cannot be in the future" in html
    assert not ContactAttempt.objects.exists()


def test_evidence_upload_and_download(client, owner):
    ticket = opened(owner.store, "T-1")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("ticket_evidence_add", args=[ticket.pk]),
        {"file": SimpleUploadedFile("聊天截图.png", PNG, content_type="image/png")},
        **HTMX,
    )
    assert "聊天截图.png" in body(response)
    item = Evidence.objects.get()
    download = client.get(reverse("ticket_evidence_download", args=[ticket.pk, item.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG


def test_disguised_upload_is_refused_inline(client, owner):
    ticket = opened(owner.store, "T-1")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("ticket_evidence_add", args=[ticket.pk]),
        {"file": SimpleUploadedFile("photo.jpg", b"%PDF-1.7\n%%EOF\n")},
        **HTMX,
    )
    assert 'role="alert"' in body(response)
    assert not Evidence.objects.exists()


def reply_option_pk(code, platform="taobao"):
    from tickets.models import ReplyOption

    return ReplyOption.objects.get(platform=platform, code=code).pk


def test_reply_changes_the_state_and_returns_the_whole_ticket(client, owner):
    ticket = opened(owner.store, "T-1")
    at = TUESDAY_10_SHANGHAI + timedelta(minutes=30)
    contact_log(ticket=ticket, user=owner.user, channel="phone", attempted_at=at, now=at)
    response = client.post(
        reverse("ticket_reply", args=[ticket.pk]),
        {"option": reply_option_pk("settled"), "agreed_at": "2026-11-24T10:40", "remark": "补发"},
        **HTMX,
    )
    html = body(response)
    assert 'id="ticket"' in html and 'id="ticket-state"' in html
    ticket.refresh_from_db()
    assert ticket.state == "replied"
    assert "state-replied" in html


def test_reply_refusal_is_shown_inline_and_changes_nothing(client, owner):
    ticket = opened(owner.store, "T-1")
    response = client.post(
        reverse("ticket_reply", args=[ticket.pk]),
        {"option": reply_option_pk("unreachable")},
        **HTMX,
    )
    html = body(response)
    assert 'role="alert"' in html and "contact attempt" in html
    ticket.refresh_from_db()
    assert ticket.state == "open"


def test_reply_without_htmx_redirects_back_to_the_ticket(client, owner):
    ticket = opened(owner.store, "T-1")
    at = TUESDAY_10_SHANGHAI + timedelta(minutes=30)
    contact_log(ticket=ticket, user=owner.user, channel="phone", attempted_at=at, now=at)
    # "Not settled" escalates at once: the first post only asks to confirm.
    asked = client.post(
        reverse("ticket_reply", args=[ticket.pk]), {"option": reply_option_pk("disagrees")}
    )
    assert asked.status_code == 200
    assert 'id="confirm-escalation"' in body(asked)
    ticket.refresh_from_db()
    assert ticket.state == "open" and not ticket.events.filter(action="replied").exists()
    response = client.post(
        reverse("ticket_reply", args=[ticket.pk]),
        {"option": reply_option_pk("disagrees"), "confirm_escalation": "1"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == "escalated"


def test_exemption_request_form(client, owner):
    ticket = opened(owner.store, "T-1")
    response = client.post(
        reverse("ticket_exemption", args=[ticket.pk]),
        {"reason": "园区停电", "minutes": "120"},
        **HTMX,
    )
    assert ExemptionRequest.objects.get(ticket=ticket).requested_minutes == 120
    assert 'id="exemption"' in body(response)


def test_forms_need_a_csrf_token(owner):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner.user)
    ticket = opened(owner.store, "T-1")
    response = csrf_client.post(
        reverse("ticket_contact_add", args=[ticket.pk]),
        {"channel": "phone", "attempted_at": "2026-11-24T11:00"},
        **HTMX,
    )
    assert response.status_code == 403
    assert not ContactAttempt.objects.exists()


def test_pages_are_chinese_by_default(client, owner, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    ticket = opened(owner.store, "T-1")
    html = body(client.get(reverse("ticket_detail", args=[ticket.pk])))
    assert "联系记录" in html and "回单" in html


def test_english_is_switchable(client, owner, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = body(client.get(reverse("home")))
    assert "Time left" in html


def test_clock_paused_shows_outside_working_hours(client):
    membership = MembershipFactory(store=StoreFactory(jd=True))
    client.force_login(membership.user)
    opened(membership.store, "CRC-1", kind=TicketKind.CRC_HIGH_RISK)
    with time_machine.travel(TUESDAY_10_SHANGHAI + timedelta(hours=11), tick=False):  # 21:00
        html = body(client.get(reverse("home")))
    assert 'data-paused="1"' in html
    assert timezone.now() == NOW


def test_an_expired_session_during_an_htmx_poll_redirects_the_whole_page(client):
    response = client.get(reverse("home"), **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("login")
    assert client.get(reverse("home")).status_code == 302


def test_time_left_is_written_in_chinese_by_default(client, owner, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    opened(owner.store, "T-1")  # due Wed 10:00, now Tue 12:00: 22 hours left
    html = body(client.get(reverse("home")))
    assert "剩 22:00" in html
    assert 'data-time-units="天|小时|分|秒"' in html
