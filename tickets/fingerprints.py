"""Fingerprints of an evidence image: a 64-bit difference hash (dHash) and the capture
date its EXIF metadata claims, to find evidence reused across tickets.

Only Pillow and the standard library, no Django and no database, like
``tickets.thumbnails``: the caller hands in a readable file and stores what comes back.

The dHash (Krawetz, "Kind of like that", 2013): the picture in grayscale, shrunk to
9 × 8 pixels, one bit per pair of horizontal neighbours (1 when the left one is
brighter). Shrinking throws away most of what a resize or a JPEG re-encode changes,
so copies land within a few bits of each other, while unrelated pictures differ in
~28 of 64. Measured on 75 real screenshots, plots and photos (EVIDENCE_REUSE_DRAFT.md):
resized to 50 %: all ≤ 6 bits; re-encoded at JPEG quality 60: 91 % ≤ 7 (median 4);
both: 93 % ≤ 7; cropped 3 %: 76 % ≤ 7 (median 6). Different synthetic chat screenshots
(same layout, other bubbles) were never closer than 11.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import IO

from PIL import Image

from merchants.clock import SHANGHAI

from .thumbnails import decode_guarded, upright_draft, within_limit

__all__ = [
    "BANDS",
    "BAND_BITS",
    "NEAR_DISTANCE",
    "ImageFingerprint",
    "band_neighbours",
    "capture_date",
    "dhash",
    "dhash_bands",
    "hamming",
    "image_fingerprint",
    "signed64",
    "unsigned64",
]

logger = logging.getLogger(__name__)

HASH_SIZE = 8  # 8 rows of 8 comparisons: 64 bits
BANDS = 4
BAND_BITS = 64 // BANDS

# Two hashes at most this many bits apart are the same picture. 7 is what the index
# finds exhaustively: the hash is cut into 4 bands of 16 bits, and two hashes within 7
# bits have a band within 1 bit (pigeonhole: 4 bands × 2 bits = 8 > 7), so probing each
# band with its exact value and its 16 one-bit neighbours (68 index lookups) misses no
# match. Measured (module docstring): 93 % of resized + re-encoded copies are within 7,
# different chat screenshots of one layout never closer than 11.
NEAR_DISTANCE = 7

# A picture whose 9 × 8 shrink spans fewer gray levels than this is flat (a blank
# screenshot, a white page): its bits are noise, and all flat pictures would match each
# other, so it gets no hash (the SHA-256 still finds exact copies).
MIN_CONTRAST = 8

# EXIF tags (CIPA DC-008): DateTime lives in IFD0, the others in the Exif sub-IFD.
_EXIF_IFD = 0x8769
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011

_EXIF_DATE = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"^\s*([+-])(\d{2}):(\d{2})\s*$")
_EARLIEST = 1990  # before digital cameras wrote EXIF: a zeroed or bogus clock


@dataclass(frozen=True)
class ImageFingerprint:
    """What an image tells about its origin: its dHash (unsigned, None when the picture
    is flat or could not be decoded safely) and its EXIF capture time (aware, UTC)."""

    dhash: int | None = None
    captured_at: datetime | None = None


def dhash(image: Image.Image) -> int | None:
    """The 64-bit difference hash of ``image`` (unsigned), or None for a flat picture."""
    # LANCZOS kept re-encoded copies closest (measured against BOX and BILINEAR: resized
    # to 50 %, max 6 bits vs 13 and 8); reducing_gap first shrinks big pictures by an
    # integer factor (a cheap box reduce), so the filter only runs on a small image.
    small = image.convert("L").resize(
        (HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS, reducing_gap=2.0
    )
    pixels = small.tobytes()
    if max(pixels) - min(pixels) < MIN_CONTRAST:
        return None
    value = 0
    for row in range(HASH_SIZE):
        start = row * (HASH_SIZE + 1)
        for col in range(HASH_SIZE):
            value = (value << 1) | (pixels[start + col] > pixels[start + col + 1])
    return value


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def _signed(value: int, bits: int) -> int:
    """An unsigned ``bits``-bit number as the two's-complement signed one a PostgreSQL
    smallint (16) or bigint (64) column holds."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def dhash_bands(value: int) -> tuple[int, ...]:
    """The hash cut into :data:`BANDS` bands of :data:`BAND_BITS` bits, most significant
    first, each as a *signed* 16-bit number (it fits a PostgreSQL smallint)."""
    mask = (1 << BAND_BITS) - 1
    return tuple(
        _signed((value >> (BAND_BITS * (BANDS - 1 - index))) & mask, BAND_BITS)
        for index in range(BANDS)
    )


def band_neighbours(band: int) -> list[int]:
    """A signed band and the :data:`BAND_BITS` bands one bit away from it (signed)."""
    unsigned = band & ((1 << BAND_BITS) - 1)
    values = [unsigned] + [unsigned ^ (1 << bit) for bit in range(BAND_BITS)]
    return [_signed(v, BAND_BITS) for v in values]


def signed64(value: int) -> int:
    """An unsigned 64-bit hash as the signed integer a bigint column holds."""
    return _signed(value, 64)


def unsigned64(value: int) -> int:
    return value & 0xFFFF_FFFF_FFFF_FFFF


def capture_date(exif: Image.Exif) -> datetime | None:
    """When the picture says it was taken: DateTimeOriginal, else DateTime, with its
    offset tag when there is one, else Beijing time; None when absent or implausible."""
    sub = exif.get_ifd(_EXIF_IFD)
    for value, offset in (
        (sub.get(_DATETIME_ORIGINAL), sub.get(_OFFSET_TIME_ORIGINAL)),
        (exif.get(_DATETIME), sub.get(_OFFSET_TIME)),
    ):
        parsed = _parse_exif_date(value, offset)
        if parsed is not None:
            return parsed
    return None


def _parse_exif_date(value, offset) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATE.match(value.strip("\x00"))
    if match is None:
        return None
    # Phones write local time without a zone (OffsetTimeOriginal is recent, EXIF 2.31);
    # merchants and consumers are in China, so a bare EXIF time is Beijing time.
    tz = SHANGHAI
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "replace")
    offset_match = _EXIF_OFFSET.match(offset.strip("\x00")) if isinstance(offset, str) else None
    if offset_match is not None:
        sign = -1 if offset_match[1] == "-" else 1
        minutes = int(offset_match[2]) * 60 + int(offset_match[3])
        if minutes <= 14 * 60:
            tz = timezone(sign * timedelta(minutes=minutes))
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if year < _EARLIEST:
        return None
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    return local.astimezone(UTC)


def image_fingerprint(fileobj: IO[bytes]) -> ImageFingerprint:
    """The fingerprint of the image in ``fileobj`` (read from the start, left open).

    Decoded under the same guard as the thumbnails (tickets.thumbnails): Pillow's
    decompression-bomb warning is an error here, and a picture over ``MAX_PIXELS``
    is not decoded at all. A JPEG is decoded at 1/8 scale (``draft``), so a 48 MP
    photo costs a few milliseconds. Anything that cannot be decoded safely gives an
    empty fingerprint: the file keeps its SHA-256, which still finds exact copies.
    """
    fingerprint = decode_guarded(fileobj, use="fingerprint", decode=_fingerprint)
    return fingerprint if fingerprint is not None else ImageFingerprint()


def _fingerprint(image: Image.Image) -> ImageFingerprint:
    captured_at = capture_date(image.getexif())
    if not within_limit(image):
        return ImageFingerprint(captured_at=captured_at)
    # 64 × 64 is the smallest draft that still averages many pixels per cell.
    return ImageFingerprint(dhash=dhash(upright_draft(image, (64, 64))), captured_at=captured_at)
