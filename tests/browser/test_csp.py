"""The dashboard under its Content-Security-Policy in real Chromium: htmx swaps, the
top bar's language switch (once an inline onchange) and no CSP violation anywhere."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import MembershipFactory, StoreFactory, UserFactory
from tickets.services.intake import ticket_open

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "shop1-Pa55word!"

# Every violation the page reports, from before its first script runs.
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def merchant():
    user = UserFactory(username="shop1", password=PASSWORD)
    store = MembershipFactory(user=user, store=StoreFactory(name="小米家居旗舰店")).store
    for i, number in enumerate(("TB-2001", "TB-2002-FIND")):
        ticket_open(
            store=store,
            number=number,
            order_number=f"O{i}",
            summary="买家反映商品破损",
            now=timezone.now() - timedelta(hours=1),
        )
    return user


def test_htmx_and_the_language_switch_work_with_no_csp_violation(page: Page, live_server, merchant):
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(COLLECT_VIOLATIONS)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "shop1")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/")
    rows = page.locator("#ticket-list tbody tr[data-ticket]")
    expect(rows).to_have_count(2)

    # An htmx request and swap: the search narrows the list in place.
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true"):
        page.locator("#id_q").press_sequentially("FIND")
    expect(rows).to_have_count(1)
    assert page.evaluate("window.__csp") == []

    # The language switch submits from dashboard.js, not an inline handler.
    page.select_option("#lang", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    assert page.evaluate("window.__csp") == []
    assert not [text for text in console if "Content Security Policy" in text]
