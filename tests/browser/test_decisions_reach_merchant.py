"""A decision reaches the merchant, in real headless Chromium: an arbitrator judges an
escalated ticket in the Django admin (one browser), and the merchant (another browser,
logged in all along) sees the judgment and its reasoning in the ticket's timeline and
one more notification on the bell.

Both browsers ask for zh-CN; expected texts are the data (reasoning, amount, number)
or the zh-hans catalogue.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from arbitration.models import Judgment
from tests.factories import MembershipFactory, StoreFactory, UserFactory, staff_user
from tickets.models import Notification, TicketState
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_escalate

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so data must be committed; the seeded policies,
    # reply options and staff groups must come back after each test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

PASSWORD = "shop1-Pa55word!"
STAFF_PASSWORD = "pw-12345-xietong"  # tests.factories.UserFactory's
NUMBER = "TB-JUDGE-0001"
REASONING = "商家超时未回复，视为放弃举证；买家提供的破损照片清晰，支持退款"
REFUND = "59.90"


def zh(message: str) -> str:
    with translation.override("zh-hans"):
        return gettext(message)


@pytest.fixture
def escalated_ticket():
    """shop1's Taobao ticket, not answered in time and escalated by the sweep's rule."""
    user = UserFactory(username="shop1", password=PASSWORD)
    store = MembershipFactory(user=user, store=StoreFactory(name="小米家居旗舰店")).store
    opened = timezone.now() - timedelta(hours=25)
    ticket, _ = ticket_open(
        store=store,
        number=NUMBER,
        order_number="O20261124001",
        summary="买家反映商品破损，要求退款",
        consumer_name="张三丰",
        consumer_phone="13812345678",
        now=opened,
    )
    return ticket_escalate(ticket=ticket, user=None, now=timezone.now())


def log_in_merchant(page: Page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "shop1")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/")


def bell_count(page: Page):
    """The unread count once the bell has fetched it (it loads itself on this page)."""
    bell = page.locator("#notification-bell[data-unread]")
    expect(bell).to_have_count(1)
    return bell


def test_arbitrators_judgment_reaches_the_merchants_ticket_page_and_bell(
    page: Page, new_context, live_server, escalated_ticket
):
    base = live_server.url
    ticket = escalated_ticket
    assert ticket.state == TicketState.ESCALATED

    # The merchant has the ticket open: escalated, one unread notice (the escalation).
    log_in_merchant(page, base)
    page.goto(f"{base}/tickets/{ticket.pk}/")
    expect(page.locator("#ticket-state")).to_have_text(zh("Escalated"))
    expect(bell_count(page)).to_have_attribute("data-unread", "1")
    expect(page.locator("#timeline li[data-action=judged]")).to_have_count(0)

    # The arbitrator, in another browser, judges it in the admin's judge page.
    arbitrator = staff_user("arbitrator")
    arbitrator.set_password(STAFF_PASSWORD)
    arbitrator.save()
    admin = new_context().new_page()
    admin.set_default_timeout(10_000)
    admin.goto(f"{base}/admin/login/?next=/admin/")
    admin.fill("#id_username", arbitrator.username)
    admin.fill("#id_password", STAFF_PASSWORD)
    admin.click("input[type=submit]")
    expect(admin).to_have_url(f"{base}/admin/")
    admin.goto(f"{base}/admin/arbitration/escalatedticket/")
    admin.click(f"#result_list a:text-is('{NUMBER}')")
    expect(admin).to_have_url(f"{base}/admin/arbitration/escalatedticket/{ticket.pk}/judge/")
    admin.check("#id_merchant_liable_0")  # yes: the merchant is liable
    admin.fill("#id_refund_amount", REFUND)
    admin.fill("#id_reasoning", REASONING)
    admin.click("input[type=submit].default")
    # Step 2 names the consequence (the store's dispute-refund rate); nothing is
    # recorded until the arbitrator confirms.
    expect(admin.locator(".consequence")).to_be_visible()
    assert not Judgment.objects.filter(ticket=ticket).exists()
    admin.click("#confirm-decision")
    expect(admin).to_have_url(re.compile(r"/admin/arbitration/escalatedticket/$"))
    expect(admin.locator(".messagelist")).to_contain_text(NUMBER)

    judgment = Judgment.objects.get(ticket=ticket)
    assert (judgment.merchant_liable, str(judgment.refund_amount)) == (True, REFUND)
    notice = Notification.objects.get(ticket=ticket, kind="judged")
    assert REASONING in notice.body and REFUND in notice.title

    # The merchant reloads: judged, the reasoning and the refund in the timeline, and
    # the bell counts one more.
    page.reload()
    expect(page.locator("#ticket-state")).to_have_text(zh("Judged"))
    judged = page.locator("#timeline li[data-action=judged]")
    expect(judged).to_have_count(1)
    expect(judged).to_contain_text(REASONING)
    expect(judged).to_contain_text(REFUND)
    expect(judged).to_contain_text(arbitrator.username)
    expect(bell_count(page)).to_have_attribute("data-unread", "2")
    judged.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "decision.png", full_page=True)
    assert (SCREENSHOTS / "decision.png").stat().st_size > 0

    # The bell leads to the notice, with the platform's reasoning.
    page.click("#notification-bell")
    expect(page).to_have_url(f"{base}/notifications/")
    item = page.locator(f"[data-notification='{notice.pk}']")
    expect(item).to_contain_text(REASONING)
    expect(item).to_contain_text(NUMBER)
