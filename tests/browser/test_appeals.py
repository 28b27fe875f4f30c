"""A merchant appeals (申诉) a judgment against the store, in real headless Chromium: the
ticket page's decisions box offers 申诉 with its deadline, the form opens in place
(htmx), takes a statement and an image, and the box then shows the appeal waiting for
the platform's decision; the store's appeals page lists it.

The browser asks for zh-CN; expected texts are the data or the zh-hans catalogue.
"""

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from PIL import Image
from playwright.sync_api import Page, expect

from arbitration.models import Appeal, AppealState
from arbitration.services.appeals import appeal_deadline_text
from arbitration.services.decisions import ticket_judge
from tests.factories import MembershipFactory, StoreFactory, UserFactory, staff_user
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_escalate

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so data must be committed; the seeded policies
    # (the appeal window among them) and staff groups come back after each test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "shop2-Pa55word!"
NUMBER = "TB-APPEAL-0001"
REASONING = "商家超时未回复，视为放弃举证"
STATEMENT = "我们在 11 月 24 日 10:20 已电话联系买家并达成退货协议，附聊天截图为证。"


def zh(message: str) -> str:
    with translation.override("zh-hans"):
        return gettext(message)


def is_htmx(request) -> bool:
    return request.headers.get("hx-request") == "true"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (220, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def judged_ticket():
    """shop2's ticket, escalated when its deadline passed, judged liable an hour ago."""
    user = UserFactory(username="shop2", password=PASSWORD)
    store = MembershipFactory(user=user, store=StoreFactory(name="小米家居旗舰店")).store
    now = timezone.now()
    ticket, _ = ticket_open(
        store=store,
        number=NUMBER,
        order_number="O20261124002",
        summary="买家反映商品破损，要求退款",
        consumer_name="张三丰",
        consumer_phone="13812345678",
        now=now - timedelta(hours=26),
    )
    ticket = ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    return ticket_judge(
        ticket=ticket,
        user=staff_user("arbitrator"),
        merchant_liable=True,
        refund_amount="59.90",
        reasoning=REASONING,
        now=now - timedelta(hours=1),
    )


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "shop2")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/")


def test_a_merchant_appeals_a_judgment_from_the_ticket_page(page: Page, live_server, judged_ticket):
    base = live_server.url
    judgment = judged_ticket
    ticket = judgment.ticket
    log_in(page, base)
    page.goto(f"{base}/tickets/{ticket.pk}/")

    # The decisions box: the judgment, its reasoning, and 申诉 with the deadline.
    box = page.locator("#decisions")
    expect(box).to_contain_text(REASONING)
    expect(box).to_contain_text("59.90")
    deadline = appeal_deadline_text(judgment.judged_at + timedelta(days=7))
    expect(box.locator(".appeal-deadline")).to_contain_text(deadline)
    button = box.locator("a.button.primary")
    expect(button).to_have_text(zh("Appeal"))

    # 申诉 opens the form in place (htmx), not a new page.
    page.evaluate("window.__marker = 1")
    with page.expect_response(lambda r: is_htmx(r.request) and "/appeal/" in r.url):
        button.click()
    form = box.locator("form.appeal-form")
    expect(form).to_be_visible()
    assert page.evaluate("window.__marker") == 1
    form.locator("textarea[name=statement]").fill(STATEMENT)
    form.locator("input[type=file][name=files]").set_input_files(
        [{"name": "聊天截图.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    with page.expect_response(
        lambda r: is_htmx(r.request) and r.request.method == "POST" and "/appeal/" in r.url
    ) as sent:
        form.locator("button[type=submit]").click()
    assert sent.value.status == 200

    # The box now shows the appeal waiting for the platform's decision, with what was sent.
    state = page.locator("#decisions .appeal-state .badge")
    expect(state).to_have_text(zh("Waiting for a decision"))
    expect(page.locator("#decisions")).to_contain_text(STATEMENT)
    expect(page.locator("#decisions")).to_contain_text("聊天截图.png")
    expect(page.locator("#decisions form.appeal-form")).to_have_count(0)
    expect(page.locator("#decisions a.button.primary")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1  # still the same page: nothing reloaded

    appeal = Appeal.objects.get()
    assert (appeal.judgment_id, appeal.state, appeal.statement) == (
        judgment.pk,
        AppealState.FILED,
        STATEMENT,
    )
    assert [f.original_name for f in appeal.files.all()] == ["聊天截图.png"]

    page.locator("#decisions").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "appeal.png", full_page=True)
    assert (SCREENSHOTS / "appeal.png").stat().st_size > 0

    # The store's appeals page lists it, linked back to the ticket.
    page.click("nav.sections a[href='/appeals/']")
    expect(page).to_have_url(f"{base}/appeals/")
    row = page.locator(f"#appeal-list tr[data-appeal='{appeal.pk}']")
    expect(row).to_contain_text(NUMBER)
    expect(row.locator(".badge")).to_have_text(zh("Waiting for a decision"))
    row.locator("a", has_text=NUMBER).click()
    expect(page).to_have_url(re.compile(rf"/tickets/{ticket.pk}/#decisions$"))
