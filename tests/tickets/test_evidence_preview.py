"""Evidence preview: a thumbnail made once at upload (bounded, upright, never per request,
never from a bomb), the thumbnail and inline views behind the same access check as the
download, the inline view's headers, the page's previews, and the back-fill command."""

import io
import struct
import warnings
import wave
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image, ImageFile

from tests.factories import (
    MembershipFactory,
    TicketFactory,
    UserFactory,
    make_evidence,
    png_claiming,
)
from tickets import thumbnails
from tickets.models import Evidence, TicketEvent
from tickets.services.evidence import evidence_upload
from tickets.thumbnails import THUMBNAIL_SIZE, make_thumbnail

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- files built here, so every byte is known -------------------------------------------


def image_bytes(width=640, height=480, *, fmt="PNG", mode="RGB", orientation=None) -> bytes:
    """A real, decodable image: a left half red and a right half blue (so a rotation shows)."""
    colour = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    image = Image.new(mode, (width, height), colour)
    image.paste(
        (20, 60, 200) if mode == "RGB" else (20, 60, 200, 255), (width // 2, 0, width, height)
    )
    out = io.BytesIO()
    if orientation is None:
        image.save(out, format=fmt)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation  # Orientation
        image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def tiny_pdf(text: str = "Evidence") -> bytes:
    """A valid one-page PDF (with a correct cross-reference table) that viewers render."""
    stream = b"BT /F1 18 Tf 20 40 Td (" + text.encode("ascii") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def tiny_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A valid mono 16-bit WAV of a quiet tone (browsers play it)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = int(seconds * rate)
        wav.writeframes(
            b"".join(struct.pack("<h", 800 if (i // 8) % 2 else -800) for i in range(frames))
        )
    return out.getvalue()


# An AMR call recording: accepted evidence, but no browser plays it.
AMR = b"#!AMR\n" + bytes([0x3C]) + bytes(31)
# Passes the content sniff (PNG signature) but is not a decodable image.
CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"this is not really an image" * 4


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def member():
    return MembershipFactory()


@pytest.fixture
def ticket(member):
    return TicketFactory(store=member.store)


@pytest.fixture
def logged_in(client, member):
    client.force_login(member.user)
    return client


def upload(ticket, user, name, content):
    return evidence_upload(
        ticket=ticket,
        user=user,
        upload=SimpleUploadedFile(name, content, content_type="application/octet-stream"),
        now=ticket.created_at + timedelta(hours=1),
    )


def stored_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    return (
        sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


def thumbnail_image(item) -> Image.Image:
    with item.thumbnail.open("rb") as stored:
        image = Image.open(io.BytesIO(stored.read()))
        image.load()
    return image


def served(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def url(name, item):
    return reverse(name, args=[item.ticket_id, item.pk])


# --- the thumbnail is made once, at upload ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "size", "fmt", "extension"),
    [
        ("wide.png", image_bytes(1000, 500), (320, 160), "JPEG", "jpg"),
        ("photo.jpg", image_bytes(600, 900, fmt="JPEG"), (213, 320), "JPEG", "jpg"),
        ("small.png", image_bytes(120, 80), (120, 80), "JPEG", "jpg"),  # never enlarged
        ("sticker.png", image_bytes(800, 800, mode="RGBA"), (320, 320), "PNG", "png"),  # alpha
    ],
)
def test_an_image_gets_a_bounded_thumbnail_at_upload(
    ticket, member, name, content, size, fmt, extension
):
    item = upload(ticket, member.user, name, content)

    assert item.thumbnail.name == f"evidence/{ticket.pk}/thumbs/{item.sha256}.{extension}"
    thumb = thumbnail_image(item)
    assert thumb.size == size
    assert max(thumb.size) <= max(THUMBNAIL_SIZE)
    assert thumb.format == fmt
    assert Evidence.objects.get(pk=item.pk).thumbnail.name == item.thumbnail.name
    # The original is stored untouched beside it.
    with item.file.open("rb") as original:
        assert original.read() == content


def test_an_exif_rotated_photo_comes_out_upright(ticket, member):
    # Stored 400x200 landscape, EXIF says "rotate 90° clockwise to view" (orientation 6):
    # the thumbnail is portrait, and the red left half is now on top.
    item = upload(
        ticket, member.user, "手机拍照.jpg", image_bytes(400, 200, fmt="JPEG", orientation=6)
    )

    thumb = thumbnail_image(item).convert("RGB")
    assert thumb.size == (160, 320)
    red, blue = thumb.getpixel((80, 40)), thumb.getpixel((80, 280))
    assert red[0] > 150 and red[2] < 100, red
    assert blue[2] > 150 and blue[0] < 100, blue
    assert "exif" not in thumb.info  # no metadata (GPS) carried over


def test_only_images_get_a_thumbnail(ticket, member):
    for name, content in (("发票.pdf", tiny_pdf()), ("录音.wav", tiny_wav()), ("call.amr", AMR)):
        assert not upload(ticket, member.user, name, content).thumbnail


def test_a_corrupt_image_is_still_accepted_without_a_thumbnail(ticket, member, logged_in):
    item = upload(ticket, member.user, "broken.png", CORRUPT_PNG)

    assert item.content_type == "image/png" and not item.thumbnail
    assert TicketEvent.objects.filter(ticket=ticket, action="evidence_uploaded").count() == 1
    assert logged_in.get(url("ticket_evidence_thumbnail", item)).status_code == 404
    # The page shows it as a file row with the download link, not as a broken <img>.
    html = logged_in.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "evidence-grid" not in html
    assert url("ticket_evidence_download", item) in html and "broken.png" in html


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (30000, 30000),  # past twice Image.MAX_IMAGE_PIXELS: Pillow raises DecompressionBombError
        (10000, 10000),  # between the limit and twice it: Pillow only warns
    ],
)
def test_a_decompression_bomb_gets_no_thumbnail_and_no_warning_escapes(width, height):
    pillows_limit = Image.MAX_IMAGE_PIXELS
    assert pillows_limit < width * height
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert make_thumbnail(io.BytesIO(png_claiming(width, height))) is None
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []
    assert pillows_limit == Image.MAX_IMAGE_PIXELS  # the process-wide setting is not touched


def test_a_huge_image_pillow_would_only_warn_about_is_kept_without_a_thumbnail(ticket, member):
    # 100 million pixels: over Pillow's limit, under twice it (a long screenshot may be).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        item = upload(ticket, member.user, "long.png", png_claiming(10000, 10000))
    assert item.pk and not item.thumbnail
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []


def test_a_decompression_bomb_is_refused_and_nothing_is_written(ticket, member, settings):
    # 900 million pixels in a few hundred bytes: Pillow would never decode it.
    with pytest.raises(ValidationError) as refused:
        upload(ticket, member.user, "bomb.png", png_claiming(30000, 30000))
    assert refused.value.error_dict["file"][0].code == "decompression_bomb"
    assert not Evidence.objects.exists() and stored_files(settings) == []


def test_an_image_over_our_own_pixel_limit_is_not_decoded(monkeypatch):
    monkeypatch.setattr(thumbnails, "MAX_PIXELS", 20 * 20 - 1)
    with (
        mock.patch.object(ImageFile.ImageFile, "load") as load,
        mock.patch.object(thumbnails.ImageOps, "exif_transpose") as transpose,
    ):
        assert make_thumbnail(io.BytesIO(image_bytes(20, 20))) is None
    assert not load.called and not transpose.called  # refused from the header alone
    monkeypatch.setattr(thumbnails, "MAX_PIXELS", 20 * 20)
    assert make_thumbnail(io.BytesIO(image_bytes(20, 20))) is not None


def test_if_the_rows_cannot_be_written_neither_file_is_left_behind(ticket, member, settings):
    with (
        mock.patch(
            "tickets.services.evidence.ticket_event_write", side_effect=RuntimeError("db down")
        ),
        pytest.raises(RuntimeError),
    ):
        upload(ticket, member.user, "chat.png", image_bytes())
    assert not Evidence.objects.exists()
    assert stored_files(settings) == []


def test_the_thumbnail_view_serves_the_stored_thumbnail_and_never_makes_one(
    ticket, member, logged_in
):
    item = upload(ticket, member.user, "chat.png", image_bytes())
    with item.thumbnail.open("rb") as stored:
        expected = stored.read()

    with (
        mock.patch("tickets.thumbnails.make_thumbnail") as made,
        mock.patch("tickets.services.evidence.make_thumbnail") as made_by_service,
        mock.patch.object(Image, "open", side_effect=AssertionError("Pillow used")) as opened,
    ):
        responses = [logged_in.get(url("ticket_evidence_thumbnail", item)) for _ in range(2)]
        bodies = [served(r) for r in responses]

    assert [r.status_code for r in responses] == [200, 200]
    assert bodies == [expected, expected]
    assert responses[0]["Content-Type"] == "image/jpeg"
    assert responses[0]["X-Content-Type-Options"] == "nosniff"
    assert "private" in responses[0]["Cache-Control"]
    assert not made.called and not made_by_service.called and not opened.called


# --- the inline view ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("聊天截图.png", image_bytes(), "image/png"),
        ("发票.pdf", tiny_pdf(), "application/pdf"),
        ("录音.wav", tiny_wav(), "audio/wav"),
    ],
)
def test_inline_view_serves_the_original_sandboxed_with_its_sniffed_type(
    ticket, member, logged_in, name, content, content_type
):
    item = upload(ticket, member.user, name, content)

    response = logged_in.get(url("ticket_evidence_inline", item))

    assert response.status_code == 200
    assert served(response) == content
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("inline;")
    assert "attachment" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    # The ticket page frames PDFs; nobody else may.
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_download_is_still_an_attachment(ticket, member, logged_in):
    item = upload(ticket, member.user, "发票.pdf", tiny_pdf())
    response = logged_in.get(url("ticket_evidence_download", item))
    served(response)
    assert response["Content-Disposition"].startswith("attachment;")


# --- access: exactly the download view's ----------------------------------------------------


@pytest.mark.parametrize("name", ["ticket_evidence_thumbnail", "ticket_evidence_inline"])
def test_another_stores_ticket_or_evidence_is_404(client, name):
    theirs = MembershipFactory()
    their_ticket = TicketFactory(store=theirs.store)
    item = upload(their_ticket, theirs.user, "chat.png", image_bytes())
    me = MembershipFactory()
    mine = TicketFactory(store=me.store)
    client.force_login(me.user)

    assert client.get(reverse(name, args=[their_ticket.pk, item.pk])).status_code == 404
    # Their evidence id under my own ticket's URL: still 404.
    assert client.get(reverse(name, args=[mine.pk, item.pk])).status_code == 404
    # And another ticket of my own store does not reach it either.
    assert client.get(reverse(name, args=[mine.pk, item.pk + 1000])).status_code == 404


def test_evidence_of_another_ticket_of_the_same_store_is_404(ticket, member, logged_in):
    item = upload(ticket, member.user, "chat.png", image_bytes())
    sibling = TicketFactory(store=member.store)
    for name in ("ticket_evidence_thumbnail", "ticket_evidence_inline"):
        assert logged_in.get(reverse(name, args=[sibling.pk, item.pk])).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "anonymous_htmx", "no_store"])
def test_strangers_get_what_the_download_view_gives_them(client, ticket, member, who):
    item = upload(ticket, member.user, "chat.png", image_bytes())
    extra = HTMX if who == "anonymous_htmx" else {}
    if who == "no_store":
        client.force_login(UserFactory())

    def outcome(name):
        response = client.get(url(name, item), **extra)
        return (
            response.status_code,
            response.get("Location", "").split("?")[0],
            response.get("HX-Redirect"),
        )

    download = outcome("ticket_evidence_download")
    assert download[0] in (204, 302, 403)
    assert outcome("ticket_evidence_thumbnail") == download
    assert outcome("ticket_evidence_inline") == download


# --- the ticket page ---------------------------------------------------------------------------


def test_the_page_previews_each_kind(ticket, member, logged_in):
    image = upload(ticket, member.user, "聊天截图.png", image_bytes())
    pdf = upload(ticket, member.user, "发票.pdf", tiny_pdf())
    wav = upload(ticket, member.user, "录音.wav", tiny_wav())
    amr = upload(ticket, member.user, "call.amr", AMR)

    html = logged_in.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()

    # The image: a lazy thumbnail with its name as alt text, linking to the full image.
    assert f'href="{url("ticket_evidence_inline", image)}" data-lightbox' in html
    assert (
        f'<img src="{url("ticket_evidence_thumbnail", image)}" loading="lazy" '
        f'alt="聊天截图.png" width="160" height="160">'
    ) in html
    assert 'id="evidence-lightbox"' in html and "js/evidence.js" in html
    # The PDF: framed inside a <details>, loaded only when opened.
    assert f'<iframe src="{url("ticket_evidence_inline", pdf)}" loading="lazy"' in html
    assert html.index('<details class="evidence-pdf-viewer">') < html.index(
        f'<iframe src="{url("ticket_evidence_inline", pdf)}"'
    )
    # The WAV: a player that fetches nothing until played.
    assert f'<audio controls preload="none" src="{url("ticket_evidence_inline", wav)}"' in html
    # AMR: no browser plays it, so only the download link.
    assert url("ticket_evidence_download", amr) in html
    assert url("ticket_evidence_inline", amr) not in html
    for item in (image, pdf, wav, amr):
        assert url("ticket_evidence_download", item) in html


def test_upload_partial_shows_the_new_thumbnail(ticket, member, logged_in):
    response = logged_in.post(
        reverse("ticket_evidence_add", args=[ticket.pk]),
        {"file": SimpleUploadedFile("聊天截图.png", image_bytes(), content_type="image/png")},
        **HTMX,
    )
    html = response.content.decode()
    item = Evidence.objects.get()
    assert response.status_code == 200 and "<html" not in html
    assert url("ticket_evidence_thumbnail", item) in html
    assert 'hx-target="#evidence"' in html  # the form is still there for the next file


def test_without_images_there_is_no_lightbox_or_script(ticket, member, logged_in):
    upload(ticket, member.user, "发票.pdf", tiny_pdf())
    html = logged_in.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "evidence-lightbox" not in html and "js/evidence.js" not in html


def test_page_query_count_does_not_grow_with_previews(ticket, member, logged_in):
    def add(start, n):
        for i in range(start, start + n):
            upload(ticket, member.user, f"p{i}.png", image_bytes(40 + i, 30))
            upload(ticket, member.user, f"d{i}.pdf", tiny_pdf(f"Page{i}"))
            upload(ticket, member.user, f"a{i}.wav", tiny_wav(seconds=0.1 + i / 100))

    add(0, 1)
    with CaptureQueriesContext(connection) as few:
        logged_in.get(reverse("ticket_detail", args=[ticket.pk]))
    add(1, 4)
    with CaptureQueriesContext(connection) as many:
        response = logged_in.get(reverse("ticket_detail", args=[ticket.pk]))
    assert response.content.decode().count('loading="lazy" alt=') == 5
    assert len(many.captured_queries) == len(few.captured_queries)


# --- the back-fill command ----------------------------------------------------------------------


def test_backfill_makes_missing_thumbnails_once(ticket, settings):
    old = make_evidence(ticket, name="old.png", content=image_bytes(900, 300))
    broken = make_evidence(ticket, name="broken.png", content=CORRUPT_PNG)
    pdf = make_evidence(ticket, name="scan.pdf", content=tiny_pdf())
    Evidence.objects.filter(pk=pdf.pk).update(content_type="application/pdf")
    assert not old.thumbnail

    first = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("evidence_thumbnails", stdout=first)

    # One SELECT of the image rows without a thumbnail, one UPDATE per thumbnail made.
    assert len(queries.captured_queries) == 2, [q["sql"] for q in queries.captured_queries]

    assert first.getvalue().strip() == "made=1 not_decodable=1 missing_files=0"
    old.refresh_from_db()
    assert old.thumbnail.name == f"evidence/{ticket.pk}/thumbs/{old.sha256}.jpg"
    assert thumbnail_image(old).size == (320, 107)
    assert not Evidence.objects.get(pk=broken.pk).thumbnail
    assert not Evidence.objects.get(pk=pdf.pk).thumbnail
    files = stored_files(settings)

    again = io.StringIO()
    call_command("evidence_thumbnails", stdout=again)

    assert again.getvalue().strip() == "made=0 not_decodable=1 missing_files=0"
    assert Evidence.objects.get(pk=old.pk).thumbnail.name == old.thumbnail.name
    assert stored_files(settings) == files  # nothing made twice


def test_backfill_counts_a_file_missing_from_storage_and_goes_on(ticket, settings):
    from tickets.services.evidence import evidence_thumbnails_backfill

    lost = make_evidence(ticket, name="lost.png", content=image_bytes())
    kept = make_evidence(ticket, name="kept.png", content=image_bytes(320, 240))
    Evidence.objects.filter(pk__in=[lost.pk, kept.pk]).update(thumbnail="")
    lost.file.storage.delete(lost.file.name)

    result = evidence_thumbnails_backfill()

    assert (result.made, result.failed, result.missing) == (1, 0, 1)
    assert not Evidence.objects.get(pk=lost.pk).thumbnail
    assert Evidence.objects.get(pk=kept.pk).thumbnail


def test_backfill_keeps_the_thumbnail_another_run_stored_first(ticket, settings):
    from tickets.services.evidence import evidence_thumbnails_backfill

    item = make_evidence(ticket, name="old.png", content=image_bytes())
    stale = Evidence.objects.get(pk=item.pk)  # read before the other run stored its own
    assert evidence_thumbnails_backfill().made == 1
    winner = Evidence.objects.get(pk=item.pk).thumbnail.name

    assert evidence_thumbnails_backfill(items=[stale]).made == 0

    assert Evidence.objects.get(pk=item.pk).thumbnail.name == winner
    assert [f for f in stored_files(settings) if "/thumbs/" in f] == [winner]
