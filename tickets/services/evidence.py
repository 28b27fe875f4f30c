"""Evidence files a store attaches to a ticket: size, content type, hash, storage,
and the thumbnail of an image (made once, here, never when a page is shown)."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.services import store_check_member

from .. import evidence as evidence_files
from ..models import Evidence, Ticket
from ..thumbnails import is_decompression_bomb, make_thumbnail
from .common import (
    WORKABLE_STATES,
    field_error,
    require_perm,
    require_state,
    ticket_event_write,
    ticket_lock,
)
from .evidence_reuse import evidence_fingerprint, evidence_fingerprint_values, evidence_flags_write


def evidence_upload(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    upload: UploadedFile,
    now: datetime | None = None,
) -> Evidence:
    """Store an evidence file after checking its size and its *content* type.

    Refused files leave neither a row nor a stored file behind.
    """
    return _evidence_store(ticket=ticket, user=user, upload=upload, now=now, from_platform=False)


def evidence_upload_platform(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    upload: UploadedFile,
    now: datetime | None = None,
) -> Evidence:
    """The platform's own evidence (the CS system's upload: the consumer's photos, the
    CS chat), by platform staff with ``tickets.add_evidence``; the same file checks and
    states as a store's file. Kept apart (``from_platform``): it shows as the platform's
    on the judge page, never counts as the store's evidence for a reply, and cannot be
    marked forged against the store."""
    require_perm(user, "tickets.add_evidence")
    return _evidence_store(ticket=ticket, user=user, upload=upload, now=now, from_platform=True)


def _evidence_store(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    upload: UploadedFile,
    now: datetime | None,
    from_platform: bool,
) -> Evidence:
    now = now or timezone.now()
    kind, original_name, sha256 = evidence_file_check(upload)
    # Decoded outside the row lock: Pillow's work must not hold up the ticket. An
    # image that cannot be decoded is still accepted, only without a thumbnail.
    thumbnail = make_thumbnail(upload) if kind.family == evidence_files.FAMILY_IMAGE else None
    fingerprint = evidence_fingerprint(kind=kind, upload=upload)

    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        if not from_platform:
            store_check_member(user=user, store=ticket.store)
        require_state(ticket, *WORKABLE_STATES)
        if ticket.evidence.filter(sha256=sha256).exists():
            raise field_error(
                "file", _("This file is already attached to the ticket."), code="duplicate"
            )
        item = Evidence(
            ticket=ticket,
            original_name=original_name,
            sha256=sha256,
            size=upload.size,
            content_type=kind.content_type,
            uploaded_by=user,
            uploaded_at=now,
            **evidence_fingerprint_values(fingerprint=fingerprint, now=now),
            from_platform=from_platform,
        )
        upload.seek(0)
        item.file.save(f"evidence.{kind.extension}", upload, save=False)
        # If the rows cannot be written, take the stored files back out.
        try:
            if thumbnail is not None:
                data, extension = thumbnail
                item.thumbnail.save(f"thumb.{extension}", ContentFile(data), save=False)
            item.save()
            ticket_event_write(
                ticket=ticket,
                action="evidence_uploaded",
                actor=user,
                at=now,
                payload={"evidence": item.pk, "name": original_name, "sha256": sha256}
                | ({"from_platform": True} if from_platform else {}),
            )
            # The same file or a near copy on another ticket, an EXIF date before the
            # ticket: recorded for arbitrators in this transaction (evidence_reuse).
            evidence_flags_write(item=item, ticket=ticket, now=now)
        except Exception:
            item.file.delete(save=False)
            if item.thumbnail:
                item.thumbnail.delete(save=False)
            raise
    return item


@dataclass(frozen=True)
class ThumbnailBackfill:
    made: int = 0
    failed: int = 0
    missing: int = 0


class CheckedFile(NamedTuple):
    kind: evidence_files.FileKind
    original_name: str
    sha256: str


def evidence_file_check(upload: UploadedFile, *, field: str = "file") -> CheckedFile:
    """The checks every evidence file passes, a ticket's or an appeal's: not empty,
    within the size limit, a type we accept *by its content*, a name that agrees with
    that content, no second format hiding in it (a polyglot) and no decompression bomb.
    Returns what was found, with the file's SHA-256."""
    max_bytes = settings.EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size == 0:
        raise field_error(field, _("The file is empty."), code="empty")
    if upload.size > max_bytes:
        raise field_error(
            field,
            _("The file is %(size).1f MB; the limit is %(limit).0f MB.")
            % {"size": upload.size / 2**20, "limit": max_bytes / 2**20},
            code="too_large",
        )
    upload.seek(0)
    head = upload.read(evidence_files.SNIFF_BYTES)
    kind = evidence_files.sniff_file_kind(head)
    original_name = evidence_files.sanitize_filename(upload.name or "")
    if kind is None:
        raise field_error(
            field,
            _("Only images, PDF, audio recordings and plain text or CSV are accepted."),
            code="unsupported_type",
        )
    if not evidence_files.name_matches_kind(original_name, kind):
        raise field_error(
            field,
            _("The file is named %(name)s but its content is %(type)s.")
            % {"name": original_name, "type": kind.content_type},
            code="disguised",
        )
    upload.seek(max(upload.size - evidence_files.TAIL_BYTES, 0))
    tail = upload.read(evidence_files.TAIL_BYTES)
    if evidence_files.carries_another_format(kind, head=head, tail=tail):
        raise field_error(
            field,
            _("The file also contains a web page or an archive, so it cannot be accepted."),
            code="polyglot",
        )
    if is_decompression_bomb(kind, upload):
        raise field_error(
            field,
            _(
                "The image claims more pixels than any picture we can show (a decompression "
                "bomb), so it cannot be accepted."
            ),
            code="decompression_bomb",
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return CheckedFile(kind, original_name, digest.hexdigest())


def evidence_thumbnails_backfill(*, items: Iterable[Evidence] | None = None) -> ThumbnailBackfill:
    """Make the missing thumbnail of every image evidence file (or of ``items``).

    Idempotent: a file that has a thumbnail is left alone, and each one is stored
    by a conditional update, so two runs at once never both keep one. A file that
    cannot be decoded stays without (``failed``), and a file missing from storage
    (``missing``) is counted and skipped, like the fingerprint backfill's; both are
    tried again next run.
    """
    if items is None:
        items = (
            Evidence.objects.filter(content_type__startswith="image/", thumbnail="")
            .only("pk", "ticket_id", "sha256", "content_type", "file", "thumbnail")
            .order_by("pk")
            .iterator(chunk_size=500)
        )
    made = failed = missing = 0
    for item in items:
        if item.thumbnail or not item.content_type.startswith("image/"):
            continue
        try:
            with item.file.open("rb") as original:
                thumbnail = make_thumbnail(original)
        except OSError:
            missing += 1
            continue
        if thumbnail is None:
            failed += 1
            continue
        data, extension = thumbnail
        item.thumbnail.save(f"thumb.{extension}", ContentFile(data), save=False)
        claimed = Evidence.objects.filter(pk=item.pk, thumbnail="").update(
            thumbnail=item.thumbnail.name
        )
        if claimed:
            made += 1
        else:
            item.thumbnail.delete(save=False)  # another run (or a deletion) got there first
    return ThumbnailBackfill(made=made, failed=failed, missing=missing)
