"""Evidence files: what an upload really is, and a name that is safe to show.

Merchants attach evidence to collaborative tickets: photos and screenshots,
PDFs, recordings of phone calls and chat exports (SPEC.md, "Evidence"). The
spec says files are checked *by content, not by name*: a browser-supplied
``Content-Type`` and the file's extension are both chosen by the uploader, so
neither says anything trustworthy about the bytes. This module looks at the
bytes themselves (the first :data:`SNIFF_BYTES` of the file) and answers:

* :func:`sniff_file_kind`: which accepted kind the content is, or ``None``
  when it is something we refuse (executables, archives, HTML/SVG/XML posing
  as text, unknown binary, empty files);
* :func:`carries_another_format`: whether a file that passed as one kind
  also is another (a polyglot): a web page inside a photo, an archive
  appended to a PDF;
* :func:`name_matches_kind`: whether the uploader's file name agrees with the
  content, so a PDF named ``photo.jpg`` (a "disguised file") can be refused;
* :func:`sanitize_filename`: a display/download name that cannot traverse
  paths, smuggle control or bidi characters, or break on Windows.

The module is deliberately *pure*: standard library only, no Django, no
database, no file system. Callers read the head of the upload and pass the
bytes in, which keeps every rule testable with literal byte strings and lets
the same code serve the upload form, the API and admin tools.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "AAC",
    "AMR",
    "AMR_WB",
    "CSV",
    "EXTENSIONS_BY_CONTENT_TYPE",
    "EXTENSIONS_BY_FAMILY",
    "FAMILY_AUDIO",
    "FAMILY_IMAGE",
    "FAMILY_PDF",
    "FAMILY_TEXT",
    "FLAC",
    "GIF",
    "HEIC",
    "HEIF",
    "JPEG",
    "KINDS",
    "M4A",
    "MP3",
    "OGG",
    "PDF",
    "PNG",
    "SNIFF_BYTES",
    "TAIL_BYTES",
    "TEXT",
    "WAV",
    "WEBP",
    "FileKind",
    "carries_another_format",
    "name_matches_kind",
    "sanitize_filename",
    "sniff_file_kind",
    "sniff_text_encoding",
]

SNIFF_BYTES = 65536
"""How much of the file callers should pass in. 64 KiB is far more than any
magic number needs; the extra room is for text, where the encoding and the
CSV shape can only be judged from a reasonable sample of lines."""

FAMILY_IMAGE = "image"
FAMILY_PDF = "pdf"
FAMILY_AUDIO = "audio"
FAMILY_TEXT = "text"


@dataclass(frozen=True)
class FileKind:
    """What a file's content is: the MIME type to serve it with, the canonical
    extension to give it, and the broad family used for size/type limits."""

    content_type: str
    extension: str
    family: str


JPEG = FileKind("image/jpeg", "jpg", FAMILY_IMAGE)
PNG = FileKind("image/png", "png", FAMILY_IMAGE)
GIF = FileKind("image/gif", "gif", FAMILY_IMAGE)
WEBP = FileKind("image/webp", "webp", FAMILY_IMAGE)
HEIC = FileKind("image/heic", "heic", FAMILY_IMAGE)
HEIF = FileKind("image/heif", "heif", FAMILY_IMAGE)
PDF = FileKind("application/pdf", "pdf", FAMILY_PDF)
MP3 = FileKind("audio/mpeg", "mp3", FAMILY_AUDIO)
WAV = FileKind("audio/wav", "wav", FAMILY_AUDIO)
M4A = FileKind("audio/mp4", "m4a", FAMILY_AUDIO)
AAC = FileKind("audio/aac", "aac", FAMILY_AUDIO)
AMR = FileKind("audio/amr", "amr", FAMILY_AUDIO)
AMR_WB = FileKind("audio/amr-wb", "awb", FAMILY_AUDIO)
OGG = FileKind("audio/ogg", "ogg", FAMILY_AUDIO)
FLAC = FileKind("audio/flac", "flac", FAMILY_AUDIO)
TEXT = FileKind("text/plain", "txt", FAMILY_TEXT)
CSV = FileKind("text/csv", "csv", FAMILY_TEXT)

KINDS: tuple[FileKind, ...] = (
    JPEG,
    PNG,
    GIF,
    WEBP,
    HEIC,
    HEIF,
    PDF,
    MP3,
    WAV,
    M4A,
    AAC,
    AMR,
    AMR_WB,
    OGG,
    FLAC,
    TEXT,
    CSV,
)
"""Every kind :func:`sniff_file_kind` can return."""

# Extensions a file name may carry for each kind. Several kinds accept their
# siblings' extensions on purpose: phones save HEIF-branded files as .heic,
# recorders call MP4 audio .aac or .mp4, AMR-WB files often keep .amr, and a
# chat export saved as .txt may well be comma-separated (and vice versa). None
# of these pairings lets one family pass for another.
_TEXT_EXTENSIONS = frozenset({"txt", "log", "csv"})
EXTENSIONS_BY_CONTENT_TYPE: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        JPEG.content_type: frozenset({"jpg", "jpeg", "jfif"}),
        PNG.content_type: frozenset({"png"}),
        GIF.content_type: frozenset({"gif"}),
        WEBP.content_type: frozenset({"webp"}),
        HEIC.content_type: frozenset({"heic", "heif"}),
        HEIF.content_type: frozenset({"heif", "heic"}),
        PDF.content_type: frozenset({"pdf"}),
        MP3.content_type: frozenset({"mp3"}),
        WAV.content_type: frozenset({"wav"}),
        M4A.content_type: frozenset({"m4a", "m4b", "aac", "mp4"}),
        AAC.content_type: frozenset({"aac"}),
        AMR.content_type: frozenset({"amr"}),
        AMR_WB.content_type: frozenset({"awb", "amr"}),
        OGG.content_type: frozenset({"ogg", "oga", "opus"}),
        FLAC.content_type: frozenset({"flac"}),
        TEXT.content_type: _TEXT_EXTENSIONS,
        CSV.content_type: _TEXT_EXTENSIONS,
    }
)
"""Accepted (lower-case, dot-less) file-name extensions per content type."""


def _extensions_by_family() -> Mapping[str, frozenset[str]]:
    merged: dict[str, set[str]] = {}
    for kind in KINDS:
        merged.setdefault(kind.family, set()).update(EXTENSIONS_BY_CONTENT_TYPE[kind.content_type])
    return MappingProxyType({family: frozenset(exts) for family, exts in merged.items()})


EXTENSIONS_BY_FAMILY: Mapping[str, frozenset[str]] = _extensions_by_family()
"""Union of the accepted extensions per family (e.g. for an ``accept=`` hint)."""


# --------------------------------------------------------------------------
# Content sniffing
# --------------------------------------------------------------------------

# Refused outright, before anything else is tried: these are programs,
# scripts or containers that can hide programs. Checking them first also stops
# the lenient PDF rule below (marker anywhere in the first KiB) from waving
# through, say, a Windows executable that carries "%PDF-1.4" in its header.
_BLOCKED_PREFIXES: tuple[bytes, ...] = (
    b"MZ",  # DOS/Windows executable (PE)
    b"\x7fELF",  # Linux/Unix executable
    b"\xfe\xed\xfa\xce",  # Mach-O, 32 and 64 bit, both byte orders
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O fat binary / Java class
    b"PK\x03\x04",  # ZIP, and everything built on it (docx, apk, jar)
    b"PK\x05\x06",  # empty ZIP
    b"PK\x07\x08",  # spanned ZIP
    b"Rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
    b"\x1f\x8b",  # gzip
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE2: legacy Office, may carry macros
    b"#!/",  # shebang script: text, but a program, not a chat export
    b"#! /",
)

# Fixed signatures at offset 0. The AMR headers include their newline so a
# text file that merely starts with "#!AMR" is not mistaken for audio.
_PREFIX_MAGIC: tuple[tuple[bytes, FileKind], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"#!AMR\n", AMR),
    (b"#!AMR-WB\n", AMR_WB),
    (b"OggS\x00", OGG),  # capture pattern + stream structure version 0
    (b"fLaC", FLAC),
)

# ISO base media ("ftyp") major brands. Decided by the *major* brand only: the
# compatible-brand list of an M4V video or an AVIF image also names mp42/isom
# or mif1, so scanning it would let those through as audio or HEIF.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"heif"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_MP4_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2"})

_WEBP_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X"})

# "%PDF-" followed by a version, anywhere in the first KiB: PDF readers accept
# leading junk, so real files (e.g. from some scanners) have it. Requiring the
# version keeps a chat log that merely mentions "%PDF-" from becoming a PDF.
_PDF_MARKER = re.compile(rb"%PDF-\d\.\d")
_PDF_MARKER_WINDOW = 1024

_UTF8_BOM = b"\xef\xbb\xbf"

# A text file that opens with markup is refused: served or previewed with the
# wrong headers it becomes an active document (stored XSS), and no genuine chat
# export starts with a tag. The tag list follows the WHATWG MIME-sniffing
# "scriptable" patterns plus SVG/MathML and other elements that can run script
# or load content; "<!" and "<?" cover doctypes, comments, CDATA and <?xml.
# A tag must be followed by whitespace, "/", ">" or the end ("<svg/onload=..."
# is a tag to a browser), so "<2024-03-01>" or "<客服>" stay ordinary text.
_MARKUP_START = re.compile(
    r"<(?:[!?]|/?(?:html|head|body|script|style|iframe|frame|frameset|object|embed|applet"
    r"|svg|math|img|image|video|audio|source|a|b|p|br|h1|div|span|font|table|title|meta"
    r"|link|base|form|input|button|textarea|select|template|xsl:stylesheet)(?=[\s/>]|$))",
    re.IGNORECASE,
)

# Bytes below 0x20 other than tab, LF, FF and CR never occur in genuine text.
# Checking the raw bytes is valid for both accepted encodings: in UTF-8 and in
# GB18030 every byte below 0x80 (and so below 0x20) is plain ASCII.
_DISALLOWED_C0 = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_ALLOWED_CONTROLS = frozenset("\t\n\r\f")

# Enough rows to see a consistent shape without parsing the whole sample.
_CSV_SAMPLE_ROWS = 20


def sniff_file_kind(head: bytes) -> FileKind | None:
    """Recognise an evidence file from its first bytes.

    ``head`` should be the first :data:`SNIFF_BYTES` of the file (or all of
    it, if shorter); anything beyond that is ignored. Returns the kind, or
    ``None`` when the content is not an accepted evidence type.
    """
    head = bytes(head[:SNIFF_BYTES])
    if not head or head.startswith(_BLOCKED_PREFIXES):
        return None
    kind = _sniff_binary(head)
    if kind is not None:
        return kind
    text = _sniff_text(head)
    return text[0] if text is not None else None


def sniff_text_encoding(head: bytes) -> str | None:
    """The Python codec name (``"utf-8"``, ``"utf-8-sig"`` or ``"gb18030"``)
    under which :func:`sniff_file_kind` accepted ``head`` as text, or ``None``
    if it did not classify it as text. Lets a viewer decode GB18030 chat
    exports correctly instead of guessing."""
    head = bytes(head[:SNIFF_BYTES])
    if not head or head.startswith(_BLOCKED_PREFIXES) or _sniff_binary(head) is not None:
        return None
    text = _sniff_text(head)
    return text[1] if text is not None else None


TAIL_BYTES = 65536 + 22
"""How much of the file's end callers should pass to :func:`carries_another_format`:
a ZIP's end-of-central-directory record (22 bytes) plus its longest comment."""

# Elements that make a browser run script or load content. Inside an image or a recording
# (whose compressed data never spells them out) they mean a page is hiding in the file,
# waiting for a viewer that sniffs. Not applied to PDF, whose readers never render HTML
# and whose plain-text content may quote it; not to text, which is refused when it starts
# with markup. XMP metadata (<x:xmpmeta>, <rdf:RDF>) is legitimate and does not match.
_SCRIPTABLE_MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|form)(?=[\s/>])",
    re.IGNORECASE,
)
_ZIP_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
_ZIP_EOCD_SIZE = 22


def carries_another_format(kind: FileKind, *, head: bytes, tail: bytes) -> bool:
    """Whether a file :func:`sniff_file_kind` accepted as ``kind`` is also another file.

    ``head`` is its first :data:`SNIFF_BYTES`, ``tail`` its last :data:`TAIL_BYTES` (the
    same bytes for a small file). Two polyglots are recognised: script markup inside an
    image or a recording (a JPEG header followed by an HTML page), and a ZIP archive ending
    the file (a JPEG+ZIP or PDF+ZIP: ZIP readers start from the end, so every accepted
    kind can carry one, and none ends in a ZIP directory by chance).
    """
    if kind.family in (FAMILY_IMAGE, FAMILY_AUDIO) and _SCRIPTABLE_MARKUP.search(
        head[:SNIFF_BYTES]
    ):
        return True
    return _ends_with_zip_directory(bytes(tail[-TAIL_BYTES:]))


def _ends_with_zip_directory(tail: bytes) -> bool:
    # The record is 22 bytes plus a comment whose length it states, and it ends the file:
    # only an exact fit counts, so stray "PK\x05\x06" bytes in compressed data do not.
    start = tail.rfind(_ZIP_END_OF_CENTRAL_DIRECTORY)
    while start >= 0:
        if len(tail) - start >= _ZIP_EOCD_SIZE:
            comment_length = int.from_bytes(tail[start + 20 : start + 22], "little")
            if start + _ZIP_EOCD_SIZE + comment_length == len(tail):
                return True
        start = tail.rfind(_ZIP_END_OF_CENTRAL_DIRECTORY, 0, start)
    return False


def _sniff_binary(head: bytes) -> FileKind | None:
    for magic, kind in _PREFIX_MAGIC:
        if head.startswith(magic):
            return kind
    return (
        _sniff_riff(head)
        or _sniff_iso_bmff(head)
        or _sniff_id3(head)
        or _sniff_audio_frame(head)
        or _sniff_pdf(head)
    )


def _sniff_riff(head: bytes) -> FileKind | None:
    # RIFF <u32 size> <form type>; AVI and others share the container.
    if len(head) < 12 or not head.startswith(b"RIFF"):
        return None
    form = head[8:12]
    if form == b"WAVE":
        return WAV
    if form == b"WEBP" and head[12:16] in _WEBP_CHUNKS:
        return WEBP
    return None


def _sniff_iso_bmff(head: bytes) -> FileKind | None:
    # First box must be ftyp: <u32 size> "ftyp" <major brand> <u32 minor>
    # <compatible brands...>. A size under 16 cannot hold the fixed fields.
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    if box_size < 16:
        return None
    major = head[8:12]
    if major in _HEIC_BRANDS:
        return HEIC
    if major in _MP4_AUDIO_BRANDS:
        return M4A
    if major in _HEIF_BRANDS:
        # The generic image brands are refined by the compatible brands: an
        # HEVC-coded image is HEIC, an AV1-coded one is AVIF (not accepted).
        end = min(box_size, len(head))
        compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
        if compatible & _AVIF_BRANDS:
            return None
        return HEIC if compatible & _HEIC_BRANDS else HEIF
    return None


def _sniff_id3(head: bytes) -> FileKind | None:
    # ID3v2 header: "ID3", version 2..4, revision, flags, 4-byte "syncsafe"
    # size whose bytes all have the top bit clear. Validating those fields
    # keeps text that starts with "ID3" from passing as audio.
    if len(head) < 10 or not head.startswith(b"ID3"):
        return None
    if head[3] not in (2, 3, 4) or head[4] == 0xFF or any(b & 0x80 for b in head[6:10]):
        return None
    size = 0
    for b in head[6:10]:
        size = (size << 7) | b
    # The tag is only a prefix: FLAC and ADTS AAC files can carry one too, so
    # look at what follows it when the sample reaches that far.
    offset = 10 + size + (10 if head[5] & 0x10 else 0)  # 0x10: footer present
    after = head[offset:]
    if after.startswith(b"fLaC"):
        return FLAC
    if _is_adts_header(after):
        return AAC
    return MP3


def _sniff_audio_frame(head: bytes) -> FileKind | None:
    # A bare MPEG audio stream (MP3 without ID3) or ADTS AAC starts straight
    # with a frame header. Eleven sync bits alone match too much binary, so the
    # reserved values of the following fields must be absent as well.
    if _is_mpeg_audio_header(head):
        return MP3
    if _is_adts_header(head):
        return AAC
    return None


def _is_mpeg_audio_header(data: bytes) -> bool:
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version = (data[1] >> 3) & 0b11  # 0b01 is reserved
    layer = (data[1] >> 1) & 0b11  # 0b00 is reserved
    bitrate_index = data[2] >> 4  # 0b1111 is invalid; 0 ("free") is never used in practice
    sample_rate_index = (data[2] >> 2) & 0b11  # 0b11 is reserved
    return (
        version != 0b01
        and layer != 0b00
        and bitrate_index not in (0b0000, 0b1111)
        and sample_rate_index != 0b11
    )


def _is_adts_header(data: bytes) -> bool:
    # ADTS: 12 sync bits, MPEG id, layer always 00, protection flag, then the
    # sampling-frequency index (13-15 reserved) and a 13-bit frame length that
    # includes the 7-byte header itself.
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        return False
    sample_rate_index = (data[2] >> 2) & 0x0F
    frame_length = ((data[3] & 0x03) << 11) | (data[4] << 3) | (data[5] >> 5)
    return sample_rate_index <= 12 and frame_length >= 7


def _sniff_pdf(head: bytes) -> FileKind | None:
    match = _PDF_MARKER.search(head, 0, _PDF_MARKER_WINDOW + 8)
    if match is None or match.start() >= _PDF_MARKER_WINDOW:
        return None
    # Leading junk is tolerated, leading markup is not: an HTML page with a PDF
    # marker tucked behind it is a polyglot, not a scan.
    prefix = head[: match.start()].removeprefix(_UTF8_BOM).decode("latin-1")
    if _starts_with_markup(prefix):
        return None
    return PDF


def _sniff_text(head: bytes) -> tuple[FileKind, str] | None:
    """(kind, codec name) when ``head`` is acceptable plain text, else None."""
    if _DISALLOWED_C0.search(head):
        return None
    # A UTF-8 BOM settles the encoding; without one, UTF-8 is tried first
    # because valid UTF-8 is almost never meant as GB18030, while GB18030
    # (the superset of GBK that Chinese Windows tools export) is rarely valid
    # UTF-8.
    encodings = ("utf-8-sig",) if head.startswith(_UTF8_BOM) else ("utf-8", "gb18030")
    for encoding in encodings:
        text = _decode_allowing_cut_tail(head, encoding)
        if text is None:
            continue
        if any(ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc" for ch in text):
            # DEL and C1 controls decode fine but are no more textual than NUL.
            continue
        text = text.removeprefix("\ufeff")  # GB18030 has its own encoding of the BOM
        if not text.strip() or _starts_with_markup(text):
            return None
        maybe_cut = len(head) >= SNIFF_BYTES
        return (CSV if _looks_like_csv(text, maybe_cut=maybe_cut) else TEXT), encoding
    return None


def _decode_allowing_cut_tail(data: bytes, encoding: str) -> str | None:
    """Strictly decode ``data``; if that fails only because the last character
    was cut in half (the sample ends at an arbitrary byte), decode the rest."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        pass
    is_cut = _is_cut_utf8 if encoding.startswith("utf-8") else _is_cut_gb18030
    for tail_length in (1, 2, 3):
        if len(data) > tail_length and is_cut(data[-tail_length:]):
            try:
                return data[:-tail_length].decode(encoding)
            except UnicodeDecodeError:
                continue  # a longer cut may still explain the failure
    return None


def _is_cut_utf8(tail: bytes) -> bool:
    """Whether ``tail`` is the start of a UTF-8 multibyte sequence, missing its end."""
    lead = tail[0]
    if 0xC2 <= lead <= 0xDF:
        needed = 2
    elif 0xE0 <= lead <= 0xEF:
        needed = 3
    elif 0xF0 <= lead <= 0xF4:
        needed = 4
    else:
        return False
    return len(tail) < needed and all(0x80 <= b <= 0xBF for b in tail[1:])


def _is_cut_gb18030(tail: bytes) -> bool:
    """Whether ``tail`` is the start of a GB18030 two- or four-byte sequence
    (lead 81-FE; a four-byte one continues 30-39, 81-FE, 30-39), missing its end."""
    patterns = (
        lambda b: 0x81 <= b <= 0xFE,
        lambda b: 0x30 <= b <= 0x39,
        lambda b: 0x81 <= b <= 0xFE,
    )
    return all(check(b) for check, b in zip(patterns, tail, strict=False))


def _starts_with_markup(text: str) -> bool:
    # Browsers skip leading whitespace (and a BOM) before sniffing for HTML.
    return _MARKUP_START.match(text.lstrip("\ufeff \t\n\r\f\v")) is not None


def _looks_like_csv(text: str, *, maybe_cut: bool) -> bool:
    # CSV means: at least two records and every sampled record has the same
    # number (>= 2) of fields. The csv module does the counting so commas
    # inside quoted fields do not count as separators.
    if maybe_cut:
        # The sample may end mid-record; judging that fragment would make a
        # large, perfectly regular CSV look ragged.
        last_break = max(text.rfind("\n"), text.rfind("\r"))
        text = text[:last_break] if last_break >= 0 else ""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(itertools.islice((row for row in reader if row), _CSV_SAMPLE_ROWS))
    except csv.Error:
        return False
    widths = {len(row) for row in rows}
    return len(rows) >= 2 and len(widths) == 1 and widths.pop() >= 2


# --------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------

_FALLBACK_NAME = "file"
# Characters Windows forbids in file names; "/" and "\" also split paths.
_WINDOWS_ILLEGAL = frozenset('<>:"/\\|?*')
# Format characters (category Cf) are invisible and include the bidi overrides
# that make "photo\u202egpj.exe" display as "photoexe.jpg". Only the joiners
# are kept, because emoji and some scripts need them to render correctly.
_KEPT_FORMAT_CHARS = frozenset("\u200c\u200d")
# Device names Windows will not let a file be called, whatever its extension.
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
# A longer "extension" is really part of the name ("报告.第三季度最终修订版本...").
_MAX_EXTENSION_LENGTH = 16


def name_matches_kind(filename: str, kind: FileKind) -> bool:
    """Whether ``filename``'s extension is one accepted for content ``kind``.

    A name without an extension matches any kind (nothing is being claimed).
    The extension is taken from the *sanitized* name, i.e. the name people
    will see and download, so invisible characters after ``.exe`` or a bidi
    override cannot hide what the name really ends in.
    """
    _, extension = _split_extension(sanitize_filename(filename))
    if not extension:
        return True
    accepted = EXTENSIONS_BY_CONTENT_TYPE.get(kind.content_type, frozenset({kind.extension}))
    return extension.lower() in accepted


def sanitize_filename(name: str, *, max_length: int = 120) -> str:
    """A safe display/download name derived from an uploaded file name.

    Only for showing and for ``Content-Disposition``: stored files are named
    by content hash elsewhere. Keeps the base name after any ``/`` or ``\\``,
    NFC-normalises it, drops control, invisible-format and Windows-illegal
    characters, collapses whitespace, strips leading and trailing dots and
    spaces, avoids Windows device names and caps the length in characters
    while keeping the extension. Chinese (and any other) letters are kept.
    Returns ``"file"`` when nothing usable is left, so the result is never
    empty, ``"."`` or ``".."``.
    """
    if max_length < len(_FALLBACK_NAME):
        raise ValueError(f"max_length must be at least {len(_FALLBACK_NAME)}")
    base = re.split(r"[/\\]", name)[-1]
    # Normalise before filtering (so decomposed text is judged as users see
    # it) and again after, because removing a character can leave a base
    # letter next to a combining mark it should now compose with.
    base = unicodedata.normalize("NFC", base)
    kept = []
    for ch in base:
        if ch.isspace():
            kept.append(" ")  # tabs, newlines, ideographic space: all one space
        elif ch in _WINDOWS_ILLEGAL or _is_invisible_or_control(ch):
            continue
        else:
            kept.append(ch)
    cleaned = unicodedata.normalize("NFC", "".join(kept))
    # Leading dots would hide the file on Unix or make it "." / ".."; Windows
    # silently drops trailing dots and spaces, changing the extension.
    cleaned = " ".join(cleaned.split()).strip(" .")
    if not cleaned:
        return _FALLBACK_NAME
    cleaned = _cap_length(cleaned, max_length)
    if _is_windows_reserved(cleaned):
        # Prefixing may push it over the cap; capping again cannot recreate a
        # reserved name because the "_" stays in front.
        cleaned = _cap_length("_" + cleaned, max_length)
    return cleaned


def _is_invisible_or_control(ch: str) -> bool:
    category = unicodedata.category(ch)
    # Cs: lone surrogates cannot even be encoded to UTF-8 for a header.
    return category in ("Cc", "Cs") or (category == "Cf" and ch not in _KEPT_FORMAT_CHARS)


def _is_windows_reserved(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED


def _split_extension(name: str) -> tuple[str, str]:
    """(stem, extension without dot); extension is "" when there is none.

    Digits-only or spaced suffixes are not extensions: "聊天记录2024.03.01"
    and "Mr. Wang" have none, and no program opens files by such a suffix.
    """
    stem, dot, extension = name.rpartition(".")
    if (
        not dot
        or not stem
        or not extension
        or len(extension) > _MAX_EXTENSION_LENGTH
        or extension.isdigit()
        or any(ch.isspace() for ch in extension)
    ):
        return name, ""
    return stem, extension


def _cap_length(name: str, max_length: int) -> str:
    # ``name`` starts with a character other than a dot or space, so each
    # truncated result below keeps at least that character.
    if len(name) <= max_length:
        return name
    stem, extension = _split_extension(name)
    if extension and len(extension) + 1 < max_length:
        stem = stem[: max_length - len(extension) - 1].rstrip(" .")
        return f"{stem}.{extension}"
    return name[:max_length].rstrip(" .")


# What browsers play in <audio>. AMR (many phones' call recordings) is not among them,
# so it is offered for download only.
PLAYABLE_AUDIO = frozenset(kind.content_type for kind in (MP3, WAV, M4A, AAC, OGG, FLAC))


def preview_kind(*, content_type: str, has_thumbnail: bool) -> str:
    """How a page previews a stored file: "image" (its thumbnail), "pdf" (inline),
    "audio" (a player) or "file" (download only)."""
    if has_thumbnail:
        return "image"
    if content_type == PDF.content_type:
        return "pdf"
    if content_type in PLAYABLE_AUDIO:
        return "audio"
    return "file"
