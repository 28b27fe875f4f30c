"""A merchant works a ticket end to end in real headless Chromium: log in, filter the
inbox in place, open a ticket, log a contact attempt, upload evidence, reply.

The page is in Chinese (the browser asks for zh-CN), so expected texts are taken
from the database (reply option labels) or the zh-hans catalogue.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from tests.factories import MembershipFactory, StoreFactory, UserFactory
from tickets.models import ReplyOption, Ticket, TicketKind, TicketState
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so data must be committed; the seeded policies
    # and reply options (data migrations) must come back after each test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

PASSWORD = "shop1-Pa55word!"
FIND_ME = "TB-7788-FIND"
OTHER_NUMBERS = ("TB-1001", "TB-1002")
THEIR_CRC = "JD-CRC-0001"
# The 8-byte PNG signature and an IHDR chunk: enough for the content sniffer.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def zh(message: str) -> str:
    with translation.override("zh-hans"):
        return gettext(message)


def local_input(moment) -> str:
    """A value for <input type=datetime-local>, in Asia/Shanghai."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def merchant():
    """shop1 owns a Taobao store with three open tickets; someone else's JD store has a CRC."""
    user = UserFactory(username="shop1", password=PASSWORD)
    store = MembershipFactory(user=user, store=StoreFactory(name="小米家居旗舰店")).store
    opened = timezone.now() - timedelta(hours=1)
    tickets = {}
    for i, number in enumerate((*OTHER_NUMBERS, FIND_ME)):
        tickets[number], _ = ticket_open(
            store=store,
            number=number,
            order_number=f"O2026112400{i}",
            summary="买家反映商品破损，要求退款",
            consumer_name="张三丰",
            consumer_phone="13812345678",
            now=opened,
        )
    jd_store = MembershipFactory(store=StoreFactory(jd=True, name="京东自营店")).store
    ticket_open(
        store=jd_store,
        number=THEIR_CRC,
        order_number="JD000001",
        summary="高危投诉",
        kind=TicketKind.CRC_HIGH_RISK,
        now=opened,
    )
    return user, tickets


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.fill("#id_username", "shop1")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base_url}/")


def is_htmx(request) -> bool:
    return request.headers.get("hx-request") == "true"


def test_merchant_filters_opens_works_and_replies_to_a_ticket(page: Page, live_server, merchant):
    base = live_server.url
    log_in(page, base)

    # Inbox: the store's three tickets, never the other store's CRC ticket.
    rows = page.locator("#ticket-list tbody tr[data-ticket]")
    expect(rows).to_have_count(3)
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.ticket)")) == sorted(
        (*OTHER_NUMBERS, FIND_ME)
    )
    assert THEIR_CRC not in page.content()
    page.wait_for_function("() => window.htmx !== undefined")  # htmx came from /static/
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "inbox.png", full_page=True)

    # Typing the number filters the list in place (htmx) and pushes the URL.
    page.evaluate("window.__marker = 1")
    with page.expect_response(lambda r: is_htmx(r.request) and "q=TB-7788" in r.url) as typed:
        page.locator("#id_q").press_sequentially("TB-7788")
    assert typed.value.ok
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ticket", FIND_ME)
    expect(page).to_have_url(re.compile(r"[?&]q=TB-7788(&|$)"))
    # ...and so does choosing a state.
    with page.expect_response(lambda r: is_htmx(r.request) and "state=open" in r.url):
        page.select_option("#id_state", TicketState.OPEN)
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]state=open(&|$)"))
    assert page.evaluate("window.__marker") == 1, "the inbox filter reloaded the whole page"

    # Open the ticket (a real navigation).
    ticket = merchant[1][FIND_ME]
    page.click(f"#ticket-list a:text-is('{FIND_ME}')")
    expect(page).to_have_url(f"{base}/tickets/{ticket.pk}/")
    expect(page.locator("#ticket-state")).to_have_text(zh("Open"))
    page.evaluate("window.__marker = 1")

    # Log a contact attempt made a few minutes ago.
    note = "电话联系买家，已同意退款"
    page.select_option("#id_channel", "phone")
    page.fill("#id_attempted_at", local_input(timezone.now() - timedelta(minutes=5)))
    page.fill("#id_note", note)
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/contacts/")):
        page.click("#contacts button[type=submit]")
    expect(page.locator("#contacts li")).to_have_count(1)
    expect(page.locator("#contacts li").first).to_contain_text(note)
    expect(page.locator("#contacts li").first).to_contain_text(zh("Phone"))

    # Upload evidence.
    page.set_input_files(
        "#id_file", files=[{"name": "聊天截图.png", "mimeType": "image/png", "buffer": PNG}]
    )
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/evidence/")):
        page.click("#evidence button[type=submit]")
    evidence = page.locator("#evidence li")
    expect(evidence).to_have_count(1)
    expect(evidence.first).to_contain_text("聊天截图.png")
    expect(evidence.first).to_contain_text("image/png")

    # Reply "settled" with the time agreement was reached: the state badge changes in place.
    settled = ReplyOption.objects.get(platform=ticket.store.platform, code="settled")
    assert settled.label == "已协商一致"
    page.get_by_label(settled.label, exact=True).check()
    page.fill("#id_agreed_at", local_input(timezone.now() - timedelta(minutes=3)))
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/reply/")):
        page.click("#reply button[type=submit]")
    state = page.locator("#ticket-state")
    expect(state).to_have_text(zh("Replied"))
    expect(state).to_have_class(re.compile(r"\bstate-replied\b"))
    expect(page.locator("#reply")).to_contain_text(settled.label)
    assert page.evaluate("window.__marker") == 1, "the ticket page reloaded the whole page"
    page.screenshot(path=SCREENSHOTS / "ticket.png", full_page=True)

    ticket.refresh_from_db()
    assert ticket.state == TicketState.REPLIED
    assert ticket.merchant_reply.option == settled
    for name in ("inbox.png", "ticket.png"):
        assert (SCREENSHOTS / name).stat().st_size > 0


def test_a_refused_reply_is_shown_inline_and_changes_nothing(page: Page, live_server, merchant):
    user, tickets = merchant
    ticket = tickets[OTHER_NUMBERS[0]]
    contact_log(
        ticket=ticket,
        user=user,
        channel="phone",
        attempted_at=timezone.now() - timedelta(minutes=10),
    )
    unreachable = ReplyOption.objects.get(platform=ticket.store.platform, code="unreachable")
    assert unreachable.min_contact_attempts == 2
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    page.evaluate("window.__marker = 1")

    page.get_by_label(unreachable.label, exact=True).check()
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/reply/")):
        page.click("#reply button[type=submit]")

    expected = zh(
        "This reply needs %(needed)d contact attempt(s) made after the ticket was "
        "created; %(have)d logged."
    ) % {"needed": 2, "have": 1}
    expect(page.locator("#reply [role=alert]")).to_contain_text(expected)
    expect(page.locator("#ticket-state")).to_have_text(zh("Open"))
    expect(page.locator("#ticket-state")).to_have_class(re.compile(r"\bstate-open\b"))
    assert page.evaluate("window.__marker") == 1
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OPEN
    assert not Ticket.objects.get(pk=ticket.pk).events.filter(action="replied").exists()
