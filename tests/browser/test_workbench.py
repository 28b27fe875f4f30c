"""The merchant workbench in real headless Chromium: the work queue (tabs, time left on
each ticket's own clock, sorting), bulk work (select-all that survives a pushed refresh,
an empty assignment said inline, 接单), the ticket page's two columns and its
confirmation before an escalating reply, and live updates pushed by the server (staff
judge in admin in one browser, the merchant's open pages change in another).

The server's clock is frozen at a JD night (time_machine, ticking) so the CRC clock is
paused; the browser asks for zh-CN, so expected texts come from the zh-hans catalogue.
"""

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext
from playwright.sync_api import Page, expect

from tests.factories import MembershipFactory, StoreFactory, UserFactory
from tickets.models import ReplyOption, Ticket, TicketKind, TicketState
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.sweeps import sweep_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "jd-Pa55word!"
NIGHT = datetime(2026, 11, 24, 21, 0, tzinfo=SHANGHAI)  # Tuesday 21:00: JD's clock paused


def zh(message: str, context: str | None = None) -> str:
    with translation.override("zh-hans"):
        return pgettext(context, message) if context else gettext(message)


def local(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def night():
    with time_machine.travel(NIGHT, tick=True):
        yield


@pytest.fixture
def jd_shop(night):
    owner = UserFactory(username="jdshop", password=PASSWORD)
    store = MembershipFactory(user=owner, store=StoreFactory(jd=True, name="京东电器店")).store

    def open_ticket(number, at, **kwargs):
        ticket, _ = ticket_open(
            store=store,
            number=number,
            order_number=f"O-{number}",
            summary="买家反映商品破损",
            consumer_name="王五",
            consumer_phone="13912345678",
            now=at,
            **kwargs,
        )
        return ticket

    tickets = {
        "CRC-3H": open_ticket("CRC-3H", local(24, 18), kind=TicketKind.CRC_HIGH_RISK),
        "N-52M": open_ticket("N-52M", local(23, 21, 52)),
        "CRC-30M": open_ticket("CRC-30M", local(24, 15, 30), kind=TicketKind.CRC_HIGH_RISK),
        "N-20H": open_ticket("N-20H", local(24, 17)),
    }
    return store, owner, tickets, open_ticket


def log_in(page: Page, base: str, username: str = "jdshop", password: str = PASSWORD) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/")


def row_numbers(page: Page) -> list[str]:
    return page.locator("#ticket-list tbody tr[data-ticket]").evaluate_all(
        "rows => rows.map(r => r.dataset.ticket)"
    )


def is_htmx(request) -> bool:
    return request.headers.get("hx-request") == "true"


def test_the_work_queue_orders_by_time_left_on_each_clock(page: Page, live_server, jd_shop):
    log_in(page, live_server.url)

    # 待处理, by time left: due_at alone would put N-52M (21:52) first.
    expect(page.locator("nav.tabs a.current")).to_have_attribute("data-view", "todo")
    assert row_numbers(page) == ["CRC-30M", "N-52M", "CRC-3H", "N-20H"]
    first = page.locator("#ticket-list tbody tr").first
    expect(first.locator(".sla")).to_have_text(zh("%(time)s left", "time left") % {"time": "0:30"})
    expect(first.locator(".badge.paused")).to_have_text(zh("clock paused"))
    expect(first.locator(".badge.crc")).to_be_visible()  # CRC marked, never hidden
    page.locator("details.legend summary").click()
    expect(page.locator("details.legend")).to_contain_text(zh("clock paused"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "queue.png", full_page=True)

    # 即将超时: under 2 hours on the ticket's own clock.
    with page.expect_response(lambda r: is_htmx(r.request) and "view=soon" in r.url):
        page.click("nav.tabs a[data-view=soon]")
    expect(page.locator("nav.tabs a.current")).to_have_attribute("data-view", "soon")
    expect(page.locator("#ticket-list tbody tr[data-ticket]")).to_have_count(2)
    assert row_numbers(page) == ["CRC-30M", "N-52M"]
    expect(page).to_have_url(re.compile(r"[?&]view=soon"))

    # Sort by creation time, newest first (the header link), within the tab.
    with page.expect_response(lambda r: is_htmx(r.request) and "sort=-created" in r.url):
        page.click("#ticket-list th a[data-sort=created]")
    assert row_numbers(page) == ["CRC-30M", "N-52M"]  # newest first
    expect(page.locator("#ticket-list th[aria-sort=descending]")).to_have_count(1)
    # The filter form keeps the tab and sort: searching stays inside 即将超时.
    with page.expect_response(lambda r: is_htmx(r.request) and "q=52M" in r.url):
        page.locator("#id_q").press_sequentially("52M")
    assert row_numbers(page) == ["N-52M"]
    expect(page).to_have_url(re.compile(r"view=soon"))


def test_bulk_selection_survives_a_pushed_refresh_and_errors_show_inline(
    page: Page, live_server, jd_shop
):
    store, owner, tickets, open_ticket = jd_shop
    staff = MembershipFactory(store=store, role="after_sales").user
    log_in(page, live_server.url)
    page.evaluate("window.__marker = 1")

    # Assign with nothing selected: said inline, not a silent 400.
    page.select_option("#id_assignee", str(staff.pk))
    with page.expect_response(lambda r: is_htmx(r.request) and "/tickets/assign/" in r.url) as sent:
        page.click("#bulk .bulk-bar button[type=submit]")
    assert sent.value.status == 200
    expect(page.locator("#ticket-list [role=alert]")).to_have_text(
        zh("Select at least one ticket.")
    )

    # Select all on the page; a new ticket arrives (pushed), the list refreshes, and
    # the selection is still there.
    page.check("[data-select-all]")
    expect(page.locator("input[name=ticket]:checked")).to_have_count(4)
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("page=1")):
        open_ticket("N-NEW", timezone.now())
    expect(page.locator("#ticket-list tbody tr[data-ticket]")).to_have_count(5)
    expect(page.locator("input[name=ticket]:checked")).to_have_count(4)
    expect(page.locator("tr[data-ticket=N-NEW] input[name=ticket]")).not_to_be_checked()
    expect(page.locator("[data-select-all]")).not_to_be_checked()

    # Assign the four: the notice, and the selection is cleared.
    with page.expect_response(lambda r: is_htmx(r.request) and "/tickets/assign/" in r.url):
        page.click("#bulk .bulk-bar button[type=submit]")
    expect(page.locator("#ticket-list .notice")).to_be_visible()
    expect(page.locator("input[name=ticket]:checked")).to_have_count(0)
    assert set(Ticket.objects.filter(assignee=staff).values_list("number", flat=True)) == set(
        tickets
    )

    # 接单: the owner takes the unassigned new ticket from its row.
    with page.expect_response(lambda r: is_htmx(r.request) and "/claim/" in r.url):
        page.click("tr[data-ticket=N-NEW] button.claim")
    expect(page.locator("tr[data-ticket=N-NEW]")).to_contain_text("jdshop")
    assert Ticket.objects.get(number="N-NEW").assignee == owner
    assert page.evaluate("window.__marker") == 1
    page.screenshot(path=SCREENSHOTS / "bulk.png", full_page=True)


def test_the_ticket_page_in_two_columns_asks_before_an_escalating_reply(
    page: Page, live_server, jd_shop
):
    store, owner, tickets, _ = jd_shop
    ticket = tickets["N-20H"]
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")

    # Wide: facts and contacts on the left, the reply form beside them.
    facts = page.locator(".ticket-head").bounding_box()
    reply = page.locator("#reply").bounding_box()
    contacts = page.locator("#contacts").bounding_box()
    assert reply["x"] > facts["x"] + facts["width"] - 1
    assert reply["y"] < contacts["y"]  # beside, not below
    page.screenshot(path=SCREENSHOTS / "ticket-wide.png", full_page=True)

    # The contact time defaults to now (the server's Beijing time, to the minute).
    value = page.locator("#id_attempted_at").input_value()
    assert value[:13] == timezone.localtime().strftime("%Y-%m-%dT%H")
    page.select_option("#id_channel", "phone")
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/contacts/")):
        page.click("#contacts button[type=submit]")
    expect(page.locator("#contacts li")).to_have_count(1)

    # A reply whose outcome escalates at once asks first; nothing is written until then.
    disagrees = ReplyOption.objects.get(platform=store.platform, code="disagrees")
    page.get_by_label(disagrees.label, exact=True).check()
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/reply/")):
        page.click("#reply button[type=submit]")
    expect(page.locator("#confirm-escalation")).to_be_visible()
    expect(page.locator("#confirm-escalation")).to_contain_text(disagrees.label)
    expect(page.locator("#ticket-state")).to_have_text(zh("Open"))
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OPEN
    page.screenshot(path=SCREENSHOTS / "confirm-escalation.png", full_page=True)
    with page.expect_response(lambda r: is_htmx(r.request) and r.url.endswith("/reply/")):
        page.click("#confirm-escalation button[name=confirm_escalation]")
    expect(page.locator("#ticket-state")).to_have_text(zh("Escalated"))
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED

    # A phone: one column, the reply below the facts.
    page.set_viewport_size({"width": 390, "height": 844})
    facts = page.locator(".ticket-head").bounding_box()
    reply = page.locator("#reply").bounding_box()
    assert abs(reply["x"] - facts["x"]) < 2 and reply["y"] > facts["y"] + facts["height"]
    page.screenshot(path=SCREENSHOTS / "ticket-phone.png", full_page=True)


def test_staff_judge_in_admin_and_the_merchants_open_pages_update_by_themselves(
    browser, live_server, jd_shop
):
    store, owner, tickets, open_ticket = jd_shop
    ticket = tickets["N-52M"]
    contact_log(
        ticket=ticket,
        user=owner,
        channel="phone",
        attempted_at=timezone.now() - timedelta(minutes=30),
    )
    sweep_run(now=timezone.now() + timedelta(hours=1))  # N-52M times out and escalates
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED
    UserFactory(username="judge", password=PASSWORD, is_staff=True, is_superuser=True)
    context_args = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai"}

    merchant = browser.new_context(**context_args, viewport={"width": 1280, "height": 900})
    staff = browser.new_context(**context_args, viewport={"width": 1440, "height": 900})
    try:
        shop_page = merchant.new_page()
        shop_page.set_default_timeout(10_000)
        log_in(shop_page, live_server.url)
        inbox = merchant.new_page()
        inbox.set_default_timeout(10_000)
        inbox.goto(f"{live_server.url}/?view=all")
        shop_page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
        expect(shop_page.locator("#ticket-state")).to_have_text(zh("Escalated"))
        shop_page.evaluate("window.__marker = 1")
        inbox.evaluate("window.__marker = 1")

        admin = staff.new_page()
        admin.set_default_timeout(10_000)
        admin.goto(f"{live_server.url}/admin/login/")
        admin.fill("#id_username", "judge")
        admin.fill("#id_password", PASSWORD)
        admin.click("input[type=submit]")
        admin.goto(f"{live_server.url}/admin/arbitration/escalatedticket/{ticket.pk}/judge/")
        admin.check("input[name=merchant_liable][value=yes]")
        admin.fill("#id_refund_amount", "88.00")
        admin.fill("#id_reasoning", "商家未在时限内举证，支持买家退款")
        admin.click("input[type=submit]")
        admin.click("#confirm-decision")  # step 2: the consequence, then confirm

        # Within 5 s, with no reload: the ticket page shows the judgment...
        expect(shop_page.locator("#ticket-state")).to_have_text(zh("Judged"), timeout=5_000)
        expect(shop_page.locator("#ticket")).to_contain_text("支持买家退款", timeout=5_000)
        assert shop_page.evaluate("window.__marker") == 1
        # ...and the open inbox shows the new state, and a new ticket.
        expect(inbox.locator("tr[data-ticket=N-52M] .state")).to_have_text(
            zh("Judged"), timeout=5_000
        )
        open_ticket("N-LIVE", timezone.now())
        expect(inbox.locator("tr[data-ticket=N-LIVE]")).to_have_count(1, timeout=5_000)
        assert inbox.evaluate("window.__marker") == 1
        shop_page.screenshot(path=SCREENSHOTS / "live-judged.png", full_page=True)
    finally:
        merchant.close()
        staff.close()
