"""Evidence uploads: content-checked, size-limited, hashed, deduplicated; refusals leave nothing."""

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import MembershipFactory, TicketFactory
from tickets.models import Evidence, TicketEvent
from tickets.services.evidence import evidence_upload
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
CHAT = "2026-11-24 10:05 客服：您好，已为您补发\n2026-11-24 10:06 买家：好的谢谢\n".encode()


@pytest.fixture
def member():
    return MembershipFactory()


@pytest.fixture
def ticket(member):
    return TicketFactory(store=member.store)


def upload(ticket, user, name, content, content_type="application/octet-stream"):
    return evidence_upload(
        ticket=ticket,
        user=user,
        upload=SimpleUploadedFile(name, content, content_type=content_type),
        now=ticket.created_at + timedelta(hours=1),
    )


def stored_files(settings):
    root = settings.MEDIA_ROOT
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("chat.png", PNG, "image/png"),
        ("发票.pdf", PDF, "application/pdf"),
        ("聊天记录.txt", CHAT, "text/plain"),
    ],
)
def test_accepted_file_is_stored_with_its_hash_and_an_event(
    ticket, member, name, content, content_type, settings
):
    item = upload(ticket, member.user, name, content)
    assert item.content_type == content_type
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    assert (item.size, item.original_name) == (len(content), name)
    # Stored under the content hash, never under the user's file name.
    assert item.file.name.startswith(f"evidence/{ticket.pk}/{item.sha256}")
    with item.file.open("rb") as stored:
        assert stored.read() == content
    assert TicketEvent.objects.filter(ticket=ticket, action="evidence_uploaded").count() == 1


def test_file_name_is_sanitised(ticket, member):
    item = upload(ticket, member.user, "../../etc/聊天记录.txt", CHAT)
    assert item.original_name == "聊天记录.txt"


def assert_refused(ticket, settings, code):
    assert not Evidence.objects.filter(ticket=ticket).exists()
    assert not TicketEvent.objects.filter(ticket=ticket, action="evidence_uploaded").exists()
    assert stored_files(settings) == []


def test_disguised_file_is_refused(ticket, member, settings):
    with pytest.raises(ValidationError) as excinfo:
        upload(ticket, member.user, "photo.jpg", PDF)
    assert excinfo.value.error_dict["file"][0].code == "disguised"
    assert_refused(ticket, settings, "disguised")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("invoice.png", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200)),
        ("page.txt", b"<!DOCTYPE html><script>alert(1)</script>"),
        ("data.bin", bytes(range(256)) * 4),
    ],
)
def test_unsupported_content_is_refused(ticket, member, settings, name, content):
    with pytest.raises(ValidationError) as excinfo:
        upload(ticket, member.user, name, content)
    assert excinfo.value.error_dict["file"][0].code == "unsupported_type"
    assert_refused(ticket, settings, "unsupported_type")


def test_too_large_file_is_refused(ticket, member, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(ValidationError) as excinfo:
        upload(ticket, member.user, "big.txt", b"a" * 1025)
    assert excinfo.value.error_dict["file"][0].code == "too_large"
    assert_refused(ticket, settings, "too_large")


def test_empty_file_is_refused(ticket, member, settings):
    with pytest.raises(ValidationError):
        upload(ticket, member.user, "empty.txt", b"")
    assert_refused(ticket, settings, "empty")


def test_same_file_twice_on_a_ticket_is_refused_but_allowed_on_another(ticket, member, settings):
    upload(ticket, member.user, "chat.png", PNG)
    with pytest.raises(ValidationError) as excinfo:
        upload(ticket, member.user, "again.png", PNG)
    assert excinfo.value.error_dict["file"][0].code == "duplicate"
    assert Evidence.objects.filter(ticket=ticket).count() == 1
    assert len(stored_files(settings)) == 1
    other = TicketFactory(store=member.store)
    upload(other, member.user, "chat.png", PNG)
    assert Evidence.objects.count() == 2


def test_another_stores_user_cannot_upload(ticket, settings):
    with pytest.raises(PermissionDenied):
        upload(ticket, MembershipFactory().user, "chat.png", PNG)
    assert_refused(ticket, settings, "forbidden")


def test_evidence_can_still_be_added_after_escalation(ticket, member):
    ticket = ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    item = upload(ticket, member.user, "chat.png", PNG)
    assert item.ticket_id == ticket.pk
