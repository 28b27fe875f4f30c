"""Evidence reuse as arbitrators see it: the judge page's panel (which file, why, the
matching ticket's admin page, the distance; another store's first) and the queue's
column and filter at a fixed number of queries; merchants never see any of it."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    TicketFactory,
    image_bytes,
    make_evidence,
    picture,
    staff_user,
)
from tickets.models import EvidenceFlag, Ticket
from tickets.services.evidence import evidence_upload
from tickets.services.lifecycle import ticket_escalate

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

QUEUE_URL = "admin:arbitration_escalatedticket_changelist"
NOW = TUESDAY_10_SHANGHAI + timedelta(days=3)
ORIGINAL = picture(seed=21, size=(1000, 750))
ORIGINAL_JPEG = image_bytes(ORIGINAL, quality=90)
NEAR_COPY = image_bytes(ORIGINAL.resize((500, 375), Image.Resampling.LANCZOS), quality=60)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def upload(member, ticket, content, name="photo.jpg"):
    return evidence_upload(
        ticket=ticket,
        user=member.user,
        upload=SimpleUploadedFile(name, content, content_type="image/jpeg"),
        now=ticket.created_at + timedelta(hours=1),
    )


def escalate(ticket) -> Ticket:
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


@pytest.fixture
def original():
    """Store A's ticket ORIG-001 with the original photo."""
    member = MembershipFactory(store__name="原图店铺")
    ticket = TicketFactory(store=member.store, number="ORIG-001")
    upload(member, ticket, ORIGINAL_JPEG, name="原图.jpg")
    return ticket


@pytest.fixture
def copier():
    return MembershipFactory(store__name="抄图店铺")


@pytest.fixture
def reused(original, copier):
    """Store B's escalated ticket COPY-002: a near copy of A's photo, and the same photo
    on B's own earlier ticket (same store, another ticket)."""
    earlier = TicketFactory(store=copier.store, number="OWN-003")
    upload(copier, earlier, ORIGINAL_JPEG, name="own.jpg")
    ticket = TicketFactory(store=copier.store, number="COPY-002")
    upload(copier, ticket, NEAR_COPY, name="凭证.jpg")
    return escalate(ticket)


@pytest.fixture
def arbitrator_client(client):
    client.force_login(staff_user("arbitrator"))
    return client


def test_judge_page_panel_names_file_reason_matching_ticket_and_distance(
    arbitrator_client, reused, original
):
    response = arbitrator_client.get(
        reverse("admin:arbitration_escalatedticket_judge", args=[reused.pk])
    )
    flags = response.context["reuse_flags"]
    # another store's ticket first, then this store's own other ticket
    assert [(f.matched_ticket.number, f.cross_store) for f in flags] == [
        ("ORIG-001", True),
        ("OWN-003", False),
    ]
    assert all(f.reason == EvidenceFlag.Reason.NEAR for f in flags)
    body = response.content.decode()
    panel = body[body.index('id="evidence-reuse"') : body.index('id="evidence"')]
    assert "凭证.jpg" in panel
    assert "Near copy of an image on another ticket" in panel
    assert "another store's ticket" in panel
    assert reverse("admin:tickets_ticket_change", args=[original.pk]) in panel
    assert "原图店铺" in panel and "原图.jpg" in panel
    assert f"{flags[0].distance} of 64 bits" in panel
    assert panel.index("ORIG-001") < panel.index("OWN-003")


def test_judge_page_has_no_panel_without_flags(arbitrator_client, original):
    ticket = escalate(original)
    response = arbitrator_client.get(
        reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])
    )
    assert response.context["reuse_flags"] == []
    assert 'id="evidence-reuse"' not in response.content.decode()


def test_early_capture_date_is_explained_on_the_judge_page(arbitrator_client, copier):
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2026:11:23 18:00:00"}  # the day before the ticket
    ticket = TicketFactory(store=copier.store, number="EARLY-004")
    upload(copier, ticket, image_bytes(picture(seed=4), exif=exif))
    ticket = escalate(ticket)
    body = arbitrator_client.get(
        reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])
    ).content.decode()
    assert 'data-reason="early_date"' in body
    assert "Taken 2026-11-23 18:00; ticket opened 2026-11-24 10:00 (Beijing time)." in body


def queue_rows(client, query=""):
    response = client.get(reverse(QUEUE_URL) + query)
    assert response.status_code == 200
    return response, {t.number: t for t in response.context["cl"].result_list}


def test_queue_column_and_filter(arbitrator_client, reused, original, copier):
    # A photo only store B has, on two of its tickets.
    own_photo = image_bytes(picture(seed=33))
    upload(copier, TicketFactory(store=copier.store, number="OWN-006"), own_photo)
    own_only = TicketFactory(store=copier.store, number="OWN-005")
    upload(copier, own_only, own_photo, name="again.jpg")
    escalate(own_only)
    escalate(original)  # nothing earlier to match: not flagged

    response, rows = queue_rows(arbitrator_client)
    assert set(rows) == {"COPY-002", "OWN-005", "ORIG-001"}
    body = response.content.decode()
    assert body.count('class="reuse-badge cross-store"') == 1  # COPY-002
    assert body.count('class="reuse-badge"') == 1  # OWN-005: this store's own tickets
    assert (rows["COPY-002"].reuse_flagged, rows["COPY-002"].reuse_cross_store) == (True, True)
    assert (rows["OWN-005"].reuse_flagged, rows["OWN-005"].reuse_cross_store) == (True, False)
    assert rows["ORIG-001"].reuse_flagged is False
    assert "evidence reuse flagged" in body

    assert set(queue_rows(arbitrator_client, "?reuse=any")[1]) == {"COPY-002", "OWN-005"}
    assert set(queue_rows(arbitrator_client, "?reuse=other_store")[1]) == {"COPY-002"}
    assert set(queue_rows(arbitrator_client, "?reuse=no")[1]) == {"ORIG-001"}


def test_queue_queries_stay_fixed_with_flagged_rows(arbitrator_client, original):
    def add_flagged_row(index):
        member = MembershipFactory()
        ticket = TicketFactory(store=member.store, number=f"COPY-{index:03d}")
        upload(member, ticket, ORIGINAL_JPEG)
        escalate(ticket)

    for index in range(2):
        add_flagged_row(index)
    with CaptureQueriesContext(connection) as few:
        response, rows = queue_rows(arbitrator_client, "?reuse=any")
    assert len(rows) == 2
    add_flagged_row(2)
    # session, user, permissions (2), penalty policies, count, rows with their store,
    # figures and both EXISTS as subqueries: the same whatever the rows.
    with CaptureQueriesContext(connection) as more:
        response, rows = queue_rows(arbitrator_client, "?reuse=any")
    assert len(rows) == 3 and all(t.reuse_cross_store for t in rows.values())
    assert len(more) == len(few)


def test_merchant_never_sees_the_flags_or_the_other_stores_ticket(client, reused, copier):
    client.force_login(copier.user)
    page = client.get(reverse("ticket_detail", args=[reused.pk]))
    assert page.status_code == 200
    # Upload through the page's htmx form: the evidence partial it gets back.
    partial = client.post(
        reverse("ticket_evidence_add", args=[reused.pk]),
        {"file": SimpleUploadedFile("再传.jpg", ORIGINAL_JPEG, content_type="image/jpeg")},
        HTTP_HX_REQUEST="true",
    )
    assert partial.status_code == 200
    assert "再传.jpg" in partial.content.decode()
    assert EvidenceFlag.objects.filter(ticket=reused, evidence__original_name="再传.jpg").exists()
    for response in (page, partial):
        body = response.content.decode()
        for secret in ("ORIG-001", "原图店铺", "原图.jpg", "OWN-003", "evidence-reuse"):
            assert secret not in body
        for word in ("reuse", "Near copy", "another store", "64 bits", "重复", "复用"):
            assert word not in body


def test_the_judge_page_lists_flags_in_the_services_rank(db):
    """One rank for the flags, in SQL (the judge page) and in Python (the upload's cut):
    another store's first, then the same file, a near copy (closest first), an early date."""
    from django.utils import timezone

    from arbitration.selectors import ticket_evidence_flags

    ticket = TicketFactory()
    mine = TicketFactory(store=ticket.store)
    theirs = TicketFactory()
    item = make_evidence(ticket, name="a.png", content=b"\x89PNG\r\n\x1a\n a")

    def matched(on, content):
        return make_evidence(on, name="m.png", content=b"\x89PNG\r\n\x1a\n " + content)

    Reason = EvidenceFlag.Reason
    rows = {
        "early": dict(reason=Reason.EARLY_DATE),
        "near same store": dict(reason=Reason.NEAR, distance=5, on=mine, content=b"1"),
        "exact same store": dict(reason=Reason.EXACT, on=mine, content=b"2"),
        "near other store": dict(reason=Reason.NEAR, distance=3, on=theirs, content=b"3"),
        "near other store, closer": dict(reason=Reason.NEAR, distance=1, on=theirs, content=b"4"),
        "exact other store": dict(reason=Reason.EXACT, on=theirs, content=b"5"),
    }
    flags = {}
    for label, row in rows.items():
        on, content = row.pop("on", None), row.pop("content", None)
        other = matched(on, content) if on else None
        flags[label] = EvidenceFlag.objects.create(
            ticket=ticket,
            evidence=item,
            matched_evidence=other,
            matched_ticket=on,
            cross_store=on is theirs,
            created_at=timezone.now(),
            **row,
        )

    listed = [flag.pk for flag in ticket_evidence_flags(ticket=ticket)]

    expected = [
        "exact other store",
        "near other store, closer",
        "near other store",
        "exact same store",
        "near same store",
        "early",
    ]
    assert listed == [flags[label].pk for label in expected]
    assert listed == [f.pk for f in sorted(flags.values(), key=EvidenceFlag.rank_key)]
