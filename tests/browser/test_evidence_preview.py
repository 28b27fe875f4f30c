"""Evidence preview in real headless Chromium: an image thumbnail opens the full image in
a dialog (by mouse and by keyboard, Esc and the close button close it), a PDF is framed
only when its <details> is opened, a WAV plays in the browser's own player, and a new
image uploaded through htmx previews the same way."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import MembershipFactory, StoreFactory, UserFactory
from tests.tickets.test_evidence_preview import image_bytes, tiny_pdf, tiny_wav
from tickets.services.evidence import evidence_upload
from tickets.services.intake import ticket_open

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so data must be committed; the seeded policies
    # (data migrations) must come back after each test's flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "shop1-Pa55word!"
PHOTO = (960, 720)  # the full image's size; its thumbnail is 320 x 240


EVIDENCE = (
    ("破损照片.jpg", image_bytes(*PHOTO, fmt="JPEG")),
    ("退款凭证.pdf", tiny_pdf("Refund voucher")),
    ("通话录音.wav", tiny_wav(seconds=1.0)),
)


@pytest.fixture
def ticket(request):
    """shop1's open ticket with a photo, a PDF and a call recording as evidence (or the
    files an indirect parameter names)."""
    files = getattr(request, "param", EVIDENCE)
    user = UserFactory(username="shop1", password=PASSWORD)
    store = MembershipFactory(user=user, store=StoreFactory(name="小米家居旗舰店")).store
    now = timezone.now()
    ticket, _ = ticket_open(
        store=store,
        number="TB-EVIDENCE-1",
        order_number="O20261124001",
        summary="买家反映商品破损，要求退款",
        now=now - timedelta(hours=1),
    )
    for name, content in files:
        evidence_upload(
            ticket=ticket,
            user=user,
            upload=SimpleUploadedFile(name, content),
            now=now - timedelta(minutes=30),
        )
    return ticket


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "shop1")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base_url}/")


def loaded(page: Page, selector: str):
    """Wait until the <img> matching ``selector`` has really decoded; its natural size."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }",
        arg=selector,
    )
    return page.eval_on_selector(selector, "i => [i.naturalWidth, i.naturalHeight]")


def test_evidence_previews_in_the_ticket_page(page: Page, live_server, ticket):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    inline_requests = []
    page.on("request", lambda r: r.url.endswith("/view/") and inline_requests.append(r.url))
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    evidence = page.locator("#evidence")

    # The photo: a thumbnail (made at upload, 320 px), shown and decoded.
    thumb = evidence.locator(".evidence-grid .evidence-thumb")
    expect(thumb).to_have_count(1)
    expect(thumb.locator("img")).to_be_visible()
    expect(thumb.locator("img")).to_have_attribute("alt", "破损照片.jpg")
    assert loaded(page, "#evidence .evidence-grid img") == [320, 240]
    # evidence.js made the link a button that opens a dialog.
    expect(thumb).to_have_js_property("tagName", "BUTTON")
    expect(thumb).to_have_attribute("aria-haspopup", "dialog")

    # Click: the full image, from the inline view, in a modal dialog.
    dialog = page.locator("dialog#evidence-lightbox")
    expect(dialog).to_be_hidden()
    thumb.click()
    expect(dialog).to_be_visible()
    expect(dialog.locator(".lightbox-title")).to_have_text("破损照片.jpg")
    assert loaded(page, "#evidence-lightbox .lightbox-image") == list(PHOTO)
    assert page.eval_on_selector("#evidence-lightbox .lightbox-image", "i => i.src").endswith(
        "/view/"
    )
    expect(dialog.locator(".lightbox-close")).to_be_focused()
    # Esc closes it and gives focus back to the thumbnail.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(thumb).to_be_focused()
    # The keyboard opens it too; the close button closes it.
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    dialog.locator(".lightbox-close").click()
    expect(dialog).to_be_hidden()
    expect(thumb).to_be_focused()

    # The PDF: nothing fetched until its <details> is opened, then framed inline.
    viewer = evidence.locator("details.evidence-pdf-viewer")
    expect(viewer).to_have_count(1)
    frame = viewer.locator("iframe")
    expect(frame).to_have_count(1)
    expect(frame).to_have_attribute("title", "退款凭证.pdf")
    pdf_url = live_server.url + frame.get_attribute("src")
    assert pdf_url.endswith("/view/") and pdf_url not in inline_requests
    with page.expect_response(pdf_url) as pdf:
        viewer.locator("summary").click()
    response = pdf.value
    assert response.ok
    assert response.header_value("content-type") == "application/pdf"
    assert response.header_value("content-security-policy") == "sandbox"
    expect(frame).to_be_visible()

    # The recording: the browser's own player, which can decode it.
    player = evidence.locator("audio[controls]")
    expect(player).to_have_count(1)
    expect(player).to_have_attribute("preload", "none")
    page.eval_on_selector("#evidence audio", "a => a.load()")
    page.wait_for_function("() => document.querySelector('#evidence audio').duration > 0.9")

    # Cosmetic only: Chromium's PDF viewer paints the page out of process, which the page
    # cannot observe; give it a moment so the screenshot shows the document.
    page.wait_for_timeout(1500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "evidence.png", full_page=True)
    assert (SCREENSHOTS / "evidence.png").stat().st_size > 0
    assert errors == []


@pytest.mark.parametrize(
    "ticket",
    [EVIDENCE, EVIDENCE[1:]],
    ids=["beside-an-image", "first-image-so-the-script-arrives-with-the-swap"],
    indirect=True,
)
def test_an_image_uploaded_through_htmx_previews_too(page: Page, live_server, ticket):
    before = ticket.evidence.exclude(thumbnail="").count()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/tickets/{ticket.pk}/")
    page.evaluate("window.__marker = 1")

    page.set_input_files(
        "#id_file",
        files=[{"name": "聊天截图.png", "mimeType": "image/png", "buffer": image_bytes(400, 800)}],
    )
    with page.expect_response(
        lambda r: r.request.headers.get("hx-request") == "true" and r.url.endswith("/evidence/")
    ):
        page.click("#evidence button[type=submit]")

    thumbs = page.locator("#evidence .evidence-grid .evidence-thumb")
    expect(thumbs).to_have_count(before + 1)
    new = thumbs.last
    expect(new).to_have_js_property("tagName", "BUTTON")  # upgraded after the swap
    assert loaded(page, "#evidence .evidence-grid li:last-child img") == [160, 320]
    new.click()
    dialog = page.locator("dialog#evidence-lightbox")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".lightbox-title")).to_have_text("聊天截图.png")
    assert loaded(page, "#evidence-lightbox .lightbox-image") == [400, 800]
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.__marker") == 1, "the upload reloaded the whole page"
    assert errors == []
