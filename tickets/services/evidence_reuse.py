"""Evidence reuse: the same file, or a near copy of an image, on another ticket, and
images whose EXIF date says they were taken before the ticket was opened.

Found when a file is uploaded (evidence_upload calls :func:`evidence_flags_write` in
its transaction) or by the backfill, and recorded as :class:`EvidenceFlag` rows on the
later file of a pair, for arbitrators (arbitration admin) and never for merchants.
Matching is one query whatever the table's size: SHA-256 equality and the dHash's
bands are indexed (tickets.fingerprints.NEAR_DISTANCE explains the bands).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Func, IntegerField, Q, Value
from django.utils import timezone

from .. import evidence as evidence_files
from ..fingerprints import (
    NEAR_DISTANCE,
    ImageFingerprint,
    band_neighbours,
    dhash_bands,
    hamming,
    image_fingerprint,
    signed64,
    unsigned64,
)
from ..models import Evidence, EvidenceFlag, Ticket

# A file copied onto hundreds of tickets (a store's stock "shipping policy" PDF) keeps
# the ones an arbitrator needs: another store's first, then the closest.
MAX_MATCHES = 20


class HammingDistance(Func):
    """The bits two 64-bit hashes (bigint) differ in: bit_count(a # b), PostgreSQL 14+."""

    arg_joiner = " # "
    template = "bit_count((%(expressions)s)::bit(64))"
    output_field = IntegerField()


def evidence_fingerprint(*, kind: evidence_files.FileKind, upload) -> ImageFingerprint:
    """An image's fingerprint (Pillow, outside any transaction); other files have none."""
    if kind.family != evidence_files.FAMILY_IMAGE:
        return ImageFingerprint()
    return image_fingerprint(upload)


def evidence_fingerprint_values(*, fingerprint: ImageFingerprint, now: datetime) -> dict:
    """The Evidence columns that hold ``fingerprint``."""
    values = {"fingerprinted_at": now, "captured_at": fingerprint.captured_at, "dhash": None}
    bands = (None,) * 4
    if fingerprint.dhash is not None:
        values["dhash"] = signed64(fingerprint.dhash)
        bands = dhash_bands(fingerprint.dhash)
    values.update({f"dhash_band{index}": band for index, band in enumerate(bands)})
    return values


def evidence_matches(*, item: Evidence, ticket: Ticket) -> list[EvidenceFlag]:
    """What ``item`` (saved, fingerprinted, on ``ticket``) repeats of earlier evidence on
    other tickets, as unsaved flags, another store's first. One query.

    The same ticket is left out: a file a store adds again to its own ticket is not
    reuse (an identical one is refused as a duplicate anyway).
    """
    postgres = connection.vendor == "postgresql"
    bands = dhash_bands(unsigned64(item.dhash)) if item.dhash is not None else ()
    if postgres:
        # Each band's probe is an index-only scan of its covering index (band INCLUDE
        # dhash, id) that keeps only hashes within the distance: the ~0.1 % of rows a
        # probe reads (bench_evidence at 1 M: ~700) never touch the table. A bitmap OR of
        # the four band indexes read every candidate's heap page (~4x the database time).
        # The union of those ids and the SHA-256 matches is then a handful of rows.
        parts = [
            Evidence.objects.filter(**{f"dhash_band{index}__in": band_neighbours(band)})
            .annotate(distance=HammingDistance(F("dhash"), Value(item.dhash)))
            .filter(distance__lte=NEAR_DISTANCE)
            .order_by()
            .values("pk")
            for index, band in enumerate(bands)
        ]
        exact = Evidence.objects.filter(sha256=item.sha256).order_by().values("pk")
        condition = Q(pk__in=exact.union(*parts) if parts else exact)
    else:
        condition = Q(sha256=item.sha256)
        for index, band in enumerate(bands):
            condition |= Q(**{f"dhash_band{index}__in": band_neighbours(band)})
    # Earlier files only: the backfill walks the table in pk order, and an upload is the
    # latest, so each pair is flagged once, on its later file.
    rows = (
        Evidence.objects.filter(condition, pk__lt=item.pk)
        .exclude(ticket_id=ticket.pk)
        .annotate(
            store_id=F("ticket__store_id"),
            other_store=ExpressionWrapper(
                ~Q(ticket__store_id=ticket.store_id), output_field=BooleanField()
            ),
        )
        .order_by()
        .values("pk", "ticket_id", "store_id", "sha256", "dhash")
    )
    if postgres:
        # Ranked in SQL (another store's first, then exact, then the closest) and cut: a
        # file copied onto thousands of tickets still returns a few rows.
        distance = (
            HammingDistance(F("dhash"), Value(item.dhash))
            if item.dhash is not None
            else Value(0, output_field=IntegerField())
        )
        rows = rows.annotate(distance=distance).order_by(
            F("other_store").desc(), F("distance").asc(nulls_first=True), "pk"
        )[: MAX_MATCHES * 2]
    found = []
    for row in rows:
        if row["sha256"] == item.sha256:
            reason, distance = EvidenceFlag.Reason.EXACT, None
        elif row["dhash"] is not None and item.dhash is not None:
            distance = hamming(unsigned64(row["dhash"]), unsigned64(item.dhash))
            if distance > NEAR_DISTANCE:
                continue
            reason = EvidenceFlag.Reason.NEAR
        else:
            continue
        found.append(
            EvidenceFlag(
                ticket_id=ticket.pk,
                evidence=item,
                reason=reason,
                matched_evidence_id=row["pk"],
                matched_ticket_id=row["ticket_id"],
                cross_store=row["store_id"] != ticket.store_id,
                distance=distance,
            )
        )
    found.sort(key=EvidenceFlag.rank_key)
    return found[:MAX_MATCHES]


def taken_before(item: Evidence, ticket: Ticket) -> bool:
    """An image whose EXIF capture date is before the ticket was opened."""
    return item.captured_at is not None and item.captured_at < ticket.created_at


def evidence_flags_write(*, item: Evidence, ticket: Ticket, now: datetime) -> list[EvidenceFlag]:
    """Find and record what ``item`` repeats, and an EXIF date before the ticket was
    opened. Call inside the transaction that wrote ``item``: a failed upload keeps none.
    Two queries at most (the match, the insert), whatever the number of rows."""
    flags = evidence_matches(item=item, ticket=ticket)
    if taken_before(item, ticket):
        # A screenshot "taken" before the consumer even complained: a flag, not a verdict
        # (a shipping photo may well be older than the complaint).
        flags.append(
            EvidenceFlag(ticket_id=ticket.pk, evidence=item, reason=EvidenceFlag.Reason.EARLY_DATE)
        )
    for flag in flags:
        flag.created_at = now
    if flags:
        # ignore_conflicts: a backfill run again finds the same pairs (unique constraints).
        EvidenceFlag.objects.bulk_create(flags, ignore_conflicts=True)
    return flags


@dataclass(frozen=True)
class FingerprintBackfill:
    done: int = 0
    flagged: int = 0
    missing: int = 0


def evidence_fingerprints_backfill(
    *, items: Iterable[Evidence] | None = None, now: datetime | None = None
) -> FingerprintBackfill:
    """Fingerprint every evidence file uploaded before fingerprints existed (or
    ``items``) and flag what it repeats, in pk order, one transaction per file.

    Idempotent: only rows without ``fingerprinted_at`` are taken, each by a conditional
    update, so a second run (or two at once) does nothing twice. A file missing from
    storage stays unfingerprinted (``missing``) and is tried again next run; an image
    that cannot be decoded is fingerprinted without a hash (its SHA-256 still matches).
    """
    now = now or timezone.now()
    if items is None:
        items = (
            Evidence.objects.filter(fingerprinted_at=None)
            .select_related("ticket")
            .only(
                "pk",
                "sha256",
                "content_type",
                "file",
                "fingerprinted_at",
                "ticket__store_id",
                "ticket__created_at",
            )
            .order_by("pk")
            .iterator(chunk_size=500)
        )
    done = flagged = missing = 0
    for item in items:
        if item.fingerprinted_at is not None:
            continue
        fingerprint = ImageFingerprint()
        if item.content_type.startswith("image/"):
            try:
                with item.file.open("rb") as original:
                    fingerprint = image_fingerprint(original)
            except OSError:
                missing += 1
                continue
        values = evidence_fingerprint_values(fingerprint=fingerprint, now=now)
        with transaction.atomic():
            claimed = Evidence.objects.filter(pk=item.pk, fingerprinted_at=None).update(**values)
            if not claimed:
                continue  # another run got there first
            for name, value in values.items():
                setattr(item, name, value)
            flags = evidence_flags_write(item=item, ticket=item.ticket, now=now)
        done += 1
        flagged += bool(flags)
    return FingerprintBackfill(done=done, flagged=flagged, missing=missing)
