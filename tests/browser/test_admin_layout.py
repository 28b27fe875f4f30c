"""The staff admin's change lists at 1440 px, in real headless Chromium: the arbitration
queue, the ticket list, the appeals and the evidence lists fit the viewport at the
admin's default font size (no horizontal scrollbar on the page, none inside the results
table), and a ticket number never wraps (its cell is one line high).

Long realistic numbers and Chinese store names, in zh-hans as platform staff see it.
Screenshots: test-artifacts/screenshots/admin-<list>.png.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from arbitration.models import Severity
from arbitration.services.appeals import appeal_file
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    make_evidence,
)
from tickets.models import Category, TicketKind
from tickets.services.lifecycle import ticket_escalate

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so data must be committed; the seeded policies
    # and groups must come back after each test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "layout-Pa55word!"
WIDTH = 1440
PREFIX = {"taobao": "TB", "tmall": "TM", "jd": "JD"}

# Change list, and the class of the cell that holds the ticket number (th or td).
LISTS = {
    "queue": ("/admin/arbitration/escalatedticket/", ".field-ticket_number"),
    "tickets": ("/admin/tickets/ticket/", ".field-number"),
    "appeals": ("/admin/arbitration/appeal/", ".field-ticket_number"),
    "evidence": ("/admin/tickets/evidence/", ".field-ticket"),
}

# How many line boxes the cell's text makes (1 = it did not wrap), and its line height.
LINES = """cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return [tops.size, range.getBoundingClientRect().height,
          parseFloat(getComputedStyle(cell).lineHeight)];
}"""


@pytest.fixture
def busy_platform():
    """Every list with rows as long as production's: 18-digit Taobao numbers, JD CRC
    numbers, long Chinese store names, escalated, judged and appealed tickets."""
    now = timezone.now()
    stores = [
        StoreFactory(name="小米家居官方旗舰店（杭州运营中心）", code="TB-880001"),
        StoreFactory(name="天猫超市母婴用品专营店", code="TM-660002", platform="tmall"),
        StoreFactory(jd=True, name="京东自营数码配件旗舰店", code="JD-3001"),
    ]
    owner = {s.pk: MembershipFactory(store=s).user for s in stores}
    tickets = []
    for index in range(12):
        store = stores[index % 3]
        crc = store.platform == "jd" and index % 2 == 0
        number = (
            f"JD-CRC-20261124{index:06d}"
            if crc
            else f"{PREFIX[store.platform]}2026112400{index:06d}"
        )
        created = now - timedelta(hours=30 + index)
        ticket = TicketFactory(
            number=number,
            store=store,
            kind=TicketKind.CRC_HIGH_RISK if crc else TicketKind.NORMAL,
            category=Category.WRONG_OR_MISSING if index % 2 else Category.REFUND_PROGRESS,
            created_at=created,
            order_number=f"O2026112400{index:08d}",
        )
        tickets.append(ticket)
        if index % 3 == 2:
            continue  # still open (overdue)
        evidence = make_evidence(ticket, name=f"聊天记录截图-{index:02d}.png")
        tickets[-1] = ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
        if index < 4:
            arbitrator = UserFactory(username=f"arbitrator-{index}", is_superuser=True)
            violation = evidence_mark_forged(
                evidence=evidence,
                user=arbitrator,
                severity=Severity.GENERAL,
                note="截图经过编辑",
                now=ticket.due_at,
            )
            judgment = ticket_judge(
                ticket=tickets[-1],
                user=arbitrator,
                merchant_liable=True,
                refund_amount=Decimal("1299.00"),
                reasoning="商家超时未回复，视为放弃举证",
                now=now - timedelta(hours=2),
            )
            appeal_file(
                user=owner[store.pk],
                statement="物流延误，非商家原因",
                judgment=judgment,
                now=now - timedelta(hours=1),
            )
            appeal_file(
                user=owner[store.pk],
                statement="凭证为真实聊天截图",
                violation=violation,
                now=now - timedelta(minutes=30),
            )
    UserFactory(username="layout-admin", password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "layout-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{base}/admin/")


@pytest.mark.parametrize("name", list(LISTS))
def test_change_list_fits_1440_px_and_ticket_numbers_do_not_wrap(
    page: Page, live_server, busy_platform, name
):
    url, number_cell = LISTS[name]
    page.set_viewport_size({"width": WIDTH, "height": 900})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}{url}")
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)

    # The admin's default font size: nothing of ours scales the page down to fit.
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "16px"
    # No horizontal scrollbar on the page, and none inside the results table.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    results = page.locator("#changelist .results")
    overflow = results.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"{name}: the results table is {overflow}px wider than its box"

    # Every ticket number on the page sits on one line.
    cells = page.locator(f"#result_list tbody {number_cell}")
    assert cells.count() >= 2
    for index in range(cells.count()):
        cell = cells.nth(index)
        lines, height, line_height = cell.evaluate(LINES)
        text = cell.inner_text()
        assert lines == 1, f"{name}: ticket number {text!r} wraps onto {lines} lines"
        assert height <= line_height * 1.5, f"{name}: {text!r} is {height}px high"
