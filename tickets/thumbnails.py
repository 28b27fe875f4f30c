"""Evidence thumbnails: a small, upright picture of an image file, made once at upload.

Only Pillow, no Django and no database: the caller hands in a readable file and
stores what comes back. Anything that is not a decodable image (a corrupt file
that passed the content sniff, HEIC without a decoder, a decompression bomb)
gives ``None``, and the page shows a file icon instead.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from typing import IO, TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from . import evidence as evidence_files

__all__ = [
    "CONTENT_TYPES",
    "MAX_PIXELS",
    "THUMBNAIL_SIZE",
    "decode_guarded",
    "make_thumbnail",
    "upright_draft",
    "within_limit",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (320, 320)
"""The box a thumbnail fits in: twice the 160 CSS px the page shows, for sharp
pictures on high-density screens."""

MAX_PIXELS = 50_000_000
"""Larger images get no thumbnail and no dHash (``within_limit``). A 48 MP phone
photo fits; beyond that, a decoded PNG would take hundreds of MB for a 320 px picture.
Pillow's own ``Image.MAX_IMAGE_PIXELS`` check (a warning, then an error at twice the
limit) still applies on top of this one."""

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
"""The content type of each extension :func:`make_thumbnail` returns."""


def thumbnail_content_type(name: str) -> str:
    """The content type of a stored thumbnail, from its name."""
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


_JPEG_QUALITY = 85


def decode_guarded(fileobj: IO[bytes], *, use: str, decode: Callable[[Image.Image], T]) -> T | None:
    """``decode(image)`` of the image in ``fileobj`` (read from the start, left open),
    or ``None`` when it is a decompression bomb or cannot be decoded: the guard every
    decode of an uploaded picture goes through (thumbnails, fingerprints; the upload
    check ``is_decompression_bomb`` reads the header only). ``use`` names what is not
    made, in the log.

    Pillow only *warns* between ``Image.MAX_IMAGE_PIXELS`` and twice that; the warning
    is an error here, so a bomb is refused, never decoded. (catch_warnings is
    process-wide; uploads run in worker processes.)
    """
    try:
        fileobj.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fileobj) as image:
                return decode(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        logger.info("No %s: decompression bomb refused (%s)", use, exc)
    except Exception as exc:
        # Corrupt or truncated files make Pillow's decoders raise OSError,
        # SyntaxError, ValueError, EOFError, struct.error and more; a thumbnail or a
        # fingerprint is a convenience and must never turn an accepted upload into a 500.
        logger.info("No %s: image not decodable (%r)", use, exc)
    return None


def within_limit(image: Image.Image) -> bool:
    """Whether the picture is small enough to decode (:data:`MAX_PIXELS`)."""
    width, height = image.size
    return width > 0 and height > 0 and width * height <= MAX_PIXELS


def upright_draft(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The picture turned upright by its EXIF orientation, a JPEG decoded at the
    smallest of 1/2, 1/4 or 1/8 scale that still covers ``size`` (much less memory
    for big photos)."""
    image.draft("RGB", size)
    return ImageOps.exif_transpose(image)


def make_thumbnail(fileobj: IO[bytes]) -> tuple[bytes, str] | None:
    """``(bytes, extension)`` of a thumbnail of the image in ``fileobj``, or ``None``.

    The picture is turned upright by its EXIF orientation, fits in
    :data:`THUMBNAIL_SIZE`, keeps its aspect ratio and carries no metadata (no
    EXIF, so no GPS position). Images with transparency come out as PNG, the
    rest as JPEG. ``fileobj`` is read from the start and left open.
    """
    return decode_guarded(fileobj, use="thumbnail", decode=_thumbnail)


def _thumbnail(image: Image.Image) -> tuple[bytes, str] | None:
    if not within_limit(image):
        logger.info("No thumbnail: %dx%d px is over the limit", *image.size)
        return None
    # The box is square, so a later 90° EXIF rotation still gets enough pixels.
    upright = upright_draft(image, THUMBNAIL_SIZE)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    upright = upright.convert("RGBA" if has_alpha else "RGB")
    upright.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha:
        upright.save(out, format="PNG", optimize=True)
        return out.getvalue(), "png"
    upright.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), "jpg"


def is_decompression_bomb(kind: evidence_files.FileKind, fileobj: IO[bytes]) -> bool:
    """True for an image whose header claims more pixels than Pillow will ever decode
    (over twice ``Image.MAX_IMAGE_PIXELS``, ~179 million): a few hundred bytes that
    would take gigabytes to draw. Read from the header alone, nothing is decoded; an
    image Pillow cannot identify (HEIC without a plug-in) is not judged here."""
    if kind.family != evidence_files.FAMILY_IMAGE:
        return False
    fileobj.seek(0)
    try:
        with warnings.catch_warnings():
            # Between the limit and twice it Pillow only warns: such an image is kept
            # (it gets no thumbnail: make_thumbnail).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fileobj):
                return False
    except Image.DecompressionBombError:
        return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False
    finally:
        fileobj.seek(0)
