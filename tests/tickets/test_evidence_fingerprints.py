"""Evidence reuse at upload: the same file or a near copy on another ticket (another
store's marked), and an EXIF date before the ticket; one matching query whatever the
table holds; a failed upload keeps no flag; the backfill command."""

import hashlib
import os
from datetime import timedelta
from io import BytesIO, StringIO
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from PIL import Image

from tests.factories import (
    MembershipFactory,
    TicketFactory,
    image_bytes,
    make_evidence,
    picture,
)
from tickets.fingerprints import NEAR_DISTANCE, image_fingerprint
from tickets.models import Evidence, EvidenceFlag, TicketEvent
from tickets.services import evidence as evidence_service
from tickets.services import evidence_reuse
from tickets.services.evidence import evidence_upload
from tickets.services.evidence_reuse import evidence_fingerprint_values, evidence_flags_write

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ORIGINAL = picture(seed=11, size=(1200, 900))
ORIGINAL_JPEG = image_bytes(ORIGINAL, quality=90)


def member_ticket(store=None):
    member = MembershipFactory(**({"store": store} if store else {}))
    return member, TicketFactory(store=member.store)


def upload(ticket, user, content, name="photo.jpg", now=None):
    return evidence_upload(
        ticket=ticket,
        user=user,
        upload=SimpleUploadedFile(name, content, content_type="image/jpeg"),
        now=now or ticket.created_at + timedelta(hours=1),
    )


@pytest.fixture
def first():
    """The original photo, on store A's ticket."""
    member, ticket = member_ticket()
    return upload(ticket, member.user, ORIGINAL_JPEG)


def test_upload_stores_the_fingerprint(first):
    assert first.fingerprinted_at is not None
    assert first.dhash is not None
    assert first.dhash_band0 is not None
    assert not first.flags.exists()  # nothing earlier to match


def test_exact_copy_on_another_stores_ticket_is_flagged(first):
    member, ticket = member_ticket()
    item = upload(ticket, member.user, ORIGINAL_JPEG, name="凭证.jpg")
    flag = EvidenceFlag.objects.get(evidence=item)
    assert flag.reason == EvidenceFlag.Reason.EXACT
    assert (flag.matched_evidence_id, flag.matched_ticket_id) == (first.pk, first.ticket_id)
    assert flag.ticket_id == ticket.pk
    assert flag.cross_store is True
    assert flag.created_at == ticket.created_at + timedelta(hours=1)
    assert not first.flags.exists()  # only the later file of the pair is flagged


def test_exact_copy_of_a_pdf_is_flagged_too():
    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    member, ticket = member_ticket()
    evidence_upload(
        ticket=ticket, user=member.user, upload=SimpleUploadedFile("a.pdf", pdf), now=None
    )
    member, other = member_ticket()
    item = evidence_upload(
        ticket=other, user=member.user, upload=SimpleUploadedFile("b.pdf", pdf), now=None
    )
    assert item.dhash is None
    assert list(item.flags.values_list("reason", "distance")) == [("exact", None)]


def test_near_copy_after_resize_and_reencode_is_flagged_with_its_distance(first):
    half = ORIGINAL.resize((600, 450), Image.Resampling.LANCZOS)
    member, ticket = member_ticket()
    item = upload(ticket, member.user, image_bytes(half, quality=60))
    assert item.sha256 != first.sha256
    flag = EvidenceFlag.objects.get(evidence=item)
    assert flag.reason == EvidenceFlag.Reason.NEAR
    assert flag.matched_evidence_id == first.pk
    assert flag.distance is not None and 0 <= flag.distance <= NEAR_DISTANCE
    assert flag.cross_store


def test_same_store_other_ticket_is_flagged_but_not_as_cross_store(first):
    ticket = TicketFactory(store=first.ticket.store)
    item = upload(ticket, first.uploaded_by, ORIGINAL_JPEG)
    flag = EvidenceFlag.objects.get(evidence=item)
    assert (flag.reason, flag.cross_store) == (EvidenceFlag.Reason.EXACT, False)


def test_unrelated_image_is_not_flagged(first):
    member, ticket = member_ticket()
    item = upload(ticket, member.user, image_bytes(picture(seed=99, size=(1200, 900))))
    assert item.dhash is not None
    assert not EvidenceFlag.objects.exists()


def test_near_copy_on_the_same_ticket_is_not_reuse(first):
    again = image_bytes(ORIGINAL.resize((600, 450), Image.Resampling.LANCZOS), quality=60)
    item = upload(first.ticket, first.uploaded_by, again)
    assert item.ticket_id == first.ticket_id
    assert not EvidenceFlag.objects.exists()


def exif_photo(taken: str) -> bytes:
    exif = Image.Exif()
    exif[0x8769] = {0x9003: taken}
    return image_bytes(picture(seed=5), quality=85, exif=exif)


def test_photo_taken_before_the_ticket_was_opened_is_flagged():
    member, ticket = member_ticket()  # opened 2026-11-24 10:00 Beijing time
    item = upload(ticket, member.user, exif_photo("2026:11:24 09:59:00"))
    flag = EvidenceFlag.objects.get(evidence=item)
    assert flag.reason == EvidenceFlag.Reason.EARLY_DATE
    assert flag.matched_evidence is None and flag.matched_ticket is None
    assert item.captured_at == ticket.created_at - timedelta(minutes=1)


def test_photo_taken_after_the_ticket_was_opened_is_not_flagged():
    member, ticket = member_ticket()
    item = upload(ticket, member.user, exif_photo("2026:11:24 10:01:00"))
    assert item.captured_at == ticket.created_at + timedelta(minutes=1)
    assert not EvidenceFlag.objects.exists()


def test_failed_upload_writes_no_flag(first, monkeypatch, settings):
    member, ticket = member_ticket()
    real = evidence_service.evidence_flags_write

    def write_then_fail(**kwargs):
        assert real(**kwargs)  # the flag was written...
        raise RuntimeError("storage went away")

    monkeypatch.setattr(evidence_service, "evidence_flags_write", write_then_fail)
    with pytest.raises(RuntimeError):
        upload(ticket, member.user, ORIGINAL_JPEG)
    # ...and went with the transaction, as did the file, its row and its event.
    assert not EvidenceFlag.objects.exists()
    assert list(Evidence.objects.values_list("pk", flat=True)) == [first.pk]
    assert not TicketEvent.objects.filter(ticket=ticket, action="evidence_uploaded").exists()


def add_copies(count: int) -> None:
    """``count`` fingerprinted evidence rows on other stores' tickets, each the original
    photo with other bytes appended (another SHA-256, the same dHash: near matches)."""
    fingerprint = image_fingerprint(BytesIO(ORIGINAL_JPEG))
    for _ in range(count):
        _, ticket = member_ticket()
        item = make_evidence(ticket, "copy.jpg", ORIGINAL_JPEG + os.urandom(8))
        values = evidence_fingerprint_values(fingerprint=fingerprint, now=ticket.created_at)
        Evidence.objects.filter(pk=item.pk).update(**values)


def test_matching_costs_the_same_queries_whatever_the_rows():
    counts = []
    for rows in (2, 3):
        EvidenceFlag.objects.all().delete()
        Evidence.objects.all().delete()
        add_copies(rows)
        member, ticket = member_ticket()
        with CaptureQueriesContext(connection) as queries:
            item = upload(ticket, member.user, ORIGINAL_JPEG)
        assert item.flags.count() == rows
        matching = [q["sql"] for q in queries.captured_queries if "bit_count" in q["sql"]]
        # One query finds the candidates (SHA-256 or a probed band) and measures them.
        assert len(matching) == 1
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_matching_is_two_queries_the_match_and_the_insert():
    add_copies(2)
    member, ticket = member_ticket()
    item = upload(ticket, member.user, ORIGINAL_JPEG)
    item.flags.all().delete()
    with CaptureQueriesContext(connection) as queries:
        flags = evidence_flags_write(item=item, ticket=ticket, now=ticket.created_at)
    # 1. SELECT the candidates (SHA-256 or a probed band, distance in SQL);
    # 2. INSERT the flags.
    assert len(flags) == 2
    assert len(queries) == 2
    assert queries.captured_queries[1]["sql"].startswith('INSERT INTO "tickets_evidenceflag"')


def test_backfill_fingerprints_old_rows_once_and_flags_reuse():
    # given files uploaded before fingerprints existed: a photo on store A, its
    # re-encoded copy on store B, a PDF
    _, ticket_a = member_ticket()
    _, ticket_b = member_ticket()
    old = make_evidence(ticket_a, "a.jpg", ORIGINAL_JPEG)
    copy = make_evidence(ticket_b, "b.jpg", image_bytes(ORIGINAL, quality=60))
    pdf = make_evidence(ticket_b, "c.pdf", b"%PDF-1.7\n%%EOF\n")
    Evidence.objects.filter(pk=pdf.pk).update(content_type="application/pdf")
    assert not Evidence.objects.exclude(fingerprinted_at=None).exists()

    # when
    out = StringIO()
    call_command("evidence_fingerprints", stdout=out)

    # then
    assert out.getvalue().strip() == "fingerprinted=3 flagged=1 missing_files=0"
    assert not Evidence.objects.filter(fingerprinted_at=None).exists()
    assert Evidence.objects.get(pk=old.pk).dhash is not None
    assert Evidence.objects.get(pk=pdf.pk).dhash is None
    flag = EvidenceFlag.objects.get()
    assert (flag.evidence_id, flag.matched_evidence_id, flag.reason) == (copy.pk, old.pk, "near")
    assert flag.cross_store

    out = StringIO()
    call_command("evidence_fingerprints", stdout=out)
    assert out.getvalue().strip() == "fingerprinted=0 flagged=0 missing_files=0"
    assert EvidenceFlag.objects.count() == 1


def test_backfill_leaves_a_missing_file_for_the_next_run():
    _, ticket = member_ticket()
    item = make_evidence(ticket, "gone.jpg", ORIGINAL_JPEG)
    item.file.delete(save=False)
    out = StringIO()
    call_command("evidence_fingerprints", stdout=out)
    assert out.getvalue().strip() == "fingerprinted=0 flagged=0 missing_files=1"
    assert Evidence.objects.get(pk=item.pk).fingerprinted_at is None


def test_sha256_of_the_stored_file_is_what_matches():
    member, ticket = member_ticket()
    item = upload(ticket, member.user, ORIGINAL_JPEG)
    assert item.sha256 == hashlib.sha256(ORIGINAL_JPEG).hexdigest()


def test_backfill_costs_a_fixed_number_of_queries_per_file():
    def backfill_queries(files: int) -> int:
        Evidence.objects.all().delete()
        for index in range(files):
            _, ticket = member_ticket()
            make_evidence(ticket, "old.jpg", image_bytes(picture(seed=200 + index)))
        with CaptureQueriesContext(connection) as queries:
            call_command("evidence_fingerprints", stdout=StringIO())
        assert not Evidence.objects.filter(fingerprinted_at=None).exists()
        return len(queries)

    one, two, three = (backfill_queries(files) for files in (1, 2, 3))
    # the pending rows (one cursor); per file: savepoint, the claiming UPDATE, the match,
    # release: the same for every file, whatever the table holds
    assert three - two == two - one


def test_the_portable_lookup_finds_the_same_flags(first, monkeypatch):
    # SQLite (make run) has no bit_count: the bands' OR, the distance in Python.
    member, ticket = member_ticket()
    near = image_bytes(ORIGINAL.resize((600, 450), Image.Resampling.LANCZOS), quality=60)
    unrelated = image_bytes(picture(seed=98, size=(1200, 900)))
    found = {}
    for vendor in ("postgresql", "sqlite"):
        monkeypatch.setattr(evidence_reuse, "connection", SimpleNamespace(vendor=vendor))
        with transaction.atomic():
            items = [upload(ticket, member.user, content) for content in (near, unrelated)]
            found[vendor] = [
                list(item.flags.values_list("reason", "matched_evidence", "distance"))
                for item in items
            ]
            transaction.set_rollback(True)
    assert found["sqlite"] == found["postgresql"]
    assert found["sqlite"][0][0][:2] == ("near", first.pk)
    assert found["sqlite"][1] == []
