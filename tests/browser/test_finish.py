"""The finish, as Chromium draws it: the bell's icon is SVG with a size, every button's
computed text and background colours (at rest, hovered, disabled) meet 4.5:1, and the
favicon loads. tests/test_finish.py reads the same colours from the stylesheet; this
checks that the cascade (hover and disabled after button.primary) really applies them.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from merchants.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.test_finish import contrast
from tickets.models import ReplyTemplate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "finish-Pa55word!"

# The text colour and the first opaque background behind the element, as computed.
COLOURS = """el => {
  const text = getComputedStyle(el).color;
  let node = el, background = "rgba(0, 0, 0, 0)";
  while (node && node.nodeType === 1) {
    background = getComputedStyle(node).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(background)) break;
    node = node.parentElement;
  }
  return [text, background];
}"""


def hex_of(css: str) -> str:
    red, green, blue = (int(v) for v in re.findall(r"\d+", css)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def ratio(locator) -> tuple[float, str]:
    text, background = locator.evaluate(COLOURS)
    return contrast(hex_of(text), hex_of(background)), f"{text} on {background}"


@pytest.fixture
def shop_owner():
    user = UserFactory(username="finish-owner", password=PASSWORD)
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    MembershipFactory(store=membership.store, role=Membership.Role.AFTER_SALES)
    ReplyTemplate.objects.create(store=membership.store, title="催发货", text="亲，已催。")
    return membership


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "finish-owner")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base_url}/")


def test_buttons_bell_and_favicon_as_drawn(page: Page, live_server, shop_owner):
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/team/")

    # The bell: an SVG with a real size, drawn in the link's colour; no emoji.
    icon = page.locator("#notification-bell svg.icon")
    box = icon.bounding_box()
    assert box and box["width"] >= 12 and box["height"] >= 12
    assert icon.evaluate("el => getComputedStyle(el).stroke") == page.locator(
        "#notification-bell"
    ).evaluate("el => getComputedStyle(el).color")
    assert "🔔" not in page.locator("#notification-bell").inner_text()

    # Every button on the page (normal, primary, danger), at rest and hovered.
    buttons = page.locator("button:visible")
    assert buttons.count() >= 4
    assert page.locator("button.primary:visible").count() >= 1
    assert page.locator("button.danger:visible").count() >= 1
    page.mouse.move(0, 0)
    for index in range(buttons.count()):
        button = buttons.nth(index)
        value, pair = ratio(button)
        assert value >= 4.5, f"{button.inner_text()!r} at rest: {pair} is {value:.2f}:1"
        button.hover()
        value, pair = ratio(button)
        assert value >= 4.5, f"{button.inner_text()!r} hovered: {pair} is {value:.2f}:1"
        page.mouse.move(0, 0)

    # Disabled (the rule comes after button.primary, so it wins): still readable.
    primary = page.locator("button.primary:visible").first
    primary.evaluate("el => { el.disabled = true; }")
    value, pair = ratio(primary)
    assert value >= 4.5, f"disabled primary: {pair} is {value:.2f}:1"

    # The favicon: /favicon.ico leads to the SVG the pages link.
    response = page.request.get(f"{base}/favicon.ico")
    assert response.ok and response.headers["content-type"] == "image/svg+xml"
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{base}{href}").ok
