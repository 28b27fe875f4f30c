"""Tests for tickets.evidence, the pure evidence-file module (SPEC.md "Evidence").

Files are judged by content, not by name: every sample below is a tiny byte
string with a valid header, built here, so no fixtures or database are needed.
"""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tickets.evidence as evidence
from tickets.evidence import (
    AAC,
    AMR,
    AMR_WB,
    CSV,
    EXTENSIONS_BY_CONTENT_TYPE,
    EXTENSIONS_BY_FAMILY,
    FLAC,
    GIF,
    HEIC,
    HEIF,
    JPEG,
    KINDS,
    M4A,
    MP3,
    OGG,
    PDF,
    PNG,
    SNIFF_BYTES,
    TEXT,
    WAV,
    WEBP,
    FileKind,
    name_matches_kind,
    sanitize_filename,
    sniff_file_kind,
    sniff_text_encoding,
)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO-BMFF ftyp box (minor version 0) followed by the start of an mdat box."""
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 4 + len(body)) + body + b"\x00\x00\x00\x08mdat"


def riff(form: bytes, first_chunk: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 1000) + form + first_chunk + struct.pack("<I", 16)


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"
PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ID3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x64" + b"\x00" * 32
MPEG_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 32  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
ADTS_FRAME = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 9  # AAC-LC, 44.1 kHz, 16-byte frame

CHAT_UTF8 = "客服：您好，您的订单已于3月1日发货。\n买家：好的，谢谢！\n".encode()
CHAT_GB18030 = "客服：您好，您的订单已于3月1日发货。\r\n买家：好的，谢谢！\r\n".encode("gb18030")
CSV_TEXT = "订单号,金额,下单时间\n1001,9.90,2026-03-01 10:00\n1002,19.90,2026-03-02 11:30\n"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(JPEG_BYTES, JPEG, id="jpeg-jfif"),
        pytest.param(b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00", JPEG, id="jpeg-exif"),
        pytest.param(PNG_BYTES, PNG, id="png"),
        pytest.param(b"GIF87a\x10\x00\x10\x00\x80\x00\x00", GIF, id="gif87a"),
        pytest.param(b"GIF89a\x10\x00\x10\x00\x80\x00\x00", GIF, id="gif89a"),
        pytest.param(riff(b"WEBP", b"VP8 "), WEBP, id="webp-lossy"),
        pytest.param(riff(b"WEBP", b"VP8L"), WEBP, id="webp-lossless"),
        pytest.param(ftyp(b"heic", b"mif1", b"heic"), HEIC, id="heic"),
        pytest.param(ftyp(b"heix", b"mif1", b"heix"), HEIC, id="heix"),
        pytest.param(ftyp(b"mif1", b"mif1", b"heic"), HEIC, id="mif1-with-heic"),
        pytest.param(ftyp(b"mif1", b"mif1", b"miaf"), HEIF, id="mif1-generic"),
        pytest.param(ftyp(b"heif", b"mif1"), HEIF, id="heif-brand"),
        pytest.param(PDF_BYTES, PDF, id="pdf"),
        pytest.param(b"\r\n" + b"x" * 500 + b"\n" + PDF_BYTES, PDF, id="pdf-after-junk"),
        pytest.param(ID3_BYTES, MP3, id="mp3-id3"),
        pytest.param(MPEG_FRAME, MP3, id="mp3-frame-sync"),
        pytest.param(b"\xff\xf3\x64\xc4" + b"\x00" * 16, MP3, id="mp3-mpeg2-frame"),
        pytest.param(ADTS_FRAME, AAC, id="aac-adts"),
        pytest.param(b"ID3\x03\x00\x00\x00\x00\x00\x00" + ADTS_FRAME, AAC, id="aac-adts-id3"),
        pytest.param(b"ID3\x03\x00\x00\x00\x00\x00\x00fLaC\x00\x00\x00\x22", FLAC, id="flac-id3"),
        pytest.param(riff(b"WAVE", b"fmt "), WAV, id="wav"),
        pytest.param(ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), M4A, id="m4a"),
        pytest.param(ftyp(b"M4B ", b"M4B ", b"mp42"), M4A, id="m4b"),
        pytest.param(ftyp(b"mp42", b"mp42", b"isom"), M4A, id="mp42"),
        pytest.param(ftyp(b"isom", b"isom", b"iso2", b"mp41"), M4A, id="isom"),
        pytest.param(b"#!AMR\n\x3c\x48\xf5\x1f", AMR, id="amr-nb"),
        pytest.param(b"#!AMR-WB\n\x24\x48\xf5\x1f", AMR_WB, id="amr-wb"),
        pytest.param(b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead", OGG, id="ogg-opus"),
        pytest.param(b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00", FLAC, id="flac"),
        pytest.param(CHAT_UTF8, TEXT, id="text-utf8-chinese"),
        pytest.param(CHAT_GB18030, TEXT, id="text-gb18030-chinese"),
        pytest.param(b"\xef\xbb\xbf" + CSV_TEXT.encode(), CSV, id="csv-utf8-bom"),
        pytest.param(CSV_TEXT.encode(), CSV, id="csv-utf8"),
        pytest.param(CSV_TEXT.replace("\n", "\r\n").encode("gb18030"), CSV, id="csv-gb18030"),
        pytest.param(
            b'name,note\n"Wang, Li","said ""ok"", then left"\nZhao,fine\n', CSV, id="csv-quoted"
        ),
        pytest.param(("聊天记录" * 10).encode()[:-1], TEXT, id="text-utf8-cut-3-byte-char"),
        pytest.param(("聊天记录" * 10).encode()[:-2], TEXT, id="text-utf8-cut-after-lead"),
        pytest.param(("聊天记录" * 10).encode("gb18030")[:-1], TEXT, id="text-gb18030-cut"),
        pytest.param("退款𠀀".encode("gb18030")[:-1], TEXT, id="text-gb18030-cut-4-byte"),
        pytest.param(b"order 1001, shipped\n", TEXT, id="text-single-line-with-comma"),
        pytest.param(b"a,b\nc\nd,e,f\n", TEXT, id="text-ragged-commas"),
        pytest.param(b"<2026-03-01 10:00> buyer: hi\n", TEXT, id="text-angle-bracket-not-markup"),
        pytest.param("<客服小王> 您好\n".encode(), TEXT, id="text-chinese-angle-bracket"),
        pytest.param(b"see attached %PDF- file\n", TEXT, id="text-mentions-pdf-marker"),
        pytest.param(b"page one\fpage two\tend\r\n", TEXT, id="text-allowed-controls"),
    ],
)
def test_sniff_recognises_accepted_kinds(head: bytes, expected: FileKind) -> None:
    assert sniff_file_kind(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", id="windows-exe"),
        pytest.param(b"MZ" + b"\x00" * 200 + PDF_BYTES, id="exe-with-pdf-marker"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00", id="elf"),
        pytest.param(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", id="mach-o"),
        pytest.param(b"PK\x03\x04\x14\x00\x00\x00\x08\x00", id="zip"),
        pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", id="gzip"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", id="ole2-office"),
        pytest.param(b"#!/bin/sh\nrm -rf /\n", id="shell-script"),
        pytest.param(b"<!DOCTYPE html>\n<html><body>hi</body></html>", id="html-doctype"),
        pytest.param(b"<html><script>alert(1)</script></html>", id="html"),
        pytest.param(b"  \r\n\t<SCRIPT>alert(1)</SCRIPT>", id="script-after-whitespace"),
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', id="svg"),
        pytest.param(b"<svg/onload=alert(1)>", id="svg-slash"),
        pytest.param(b"\xef\xbb\xbf<svg>\n</svg>", id="svg-after-bom"),
        pytest.param(b'<?xml version="1.0"?>\n<root/>', id="xml"),
        pytest.param(b"<!-- comment -->\n<p>hi</p>", id="html-comment"),
        pytest.param(b"<img src=x onerror=alert(1)>", id="img-onerror"),
        pytest.param(b"<html><body>\n" + PDF_BYTES, id="html-then-pdf-marker"),
        pytest.param(b"hello\x00world\n", id="text-with-nul"),
        pytest.param(b"log line\x1b[31mred\x1b[0m\n", id="text-with-escape"),
        pytest.param(b"price\x7f paid\n", id="text-with-del"),
        pytest.param(b"\xef\xbb\xbf" + "price\u0085 paid\n".encode(), id="text-with-c1-control"),
        pytest.param(b" \n\t\r\n", id="whitespace-only"),
        pytest.param(b"\xef\xbb\xbf", id="bom-only"),
        pytest.param(bytes(range(256)), id="all-byte-values"),
        pytest.param(bytes(range(255, -1, -1)), id="all-byte-values-reversed"),
        pytest.param(b"\x80\x80abc", id="invalid-utf8-and-gb18030"),
        pytest.param(b"ab\x81\x30\x30cd", id="invalid-gb18030-four-byte"),
        pytest.param(b"\xef\xbb\xbf\xd6\xd0\xce\xc4", id="bom-but-not-utf8"),
        pytest.param(b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00", id="bmp"),
        pytest.param(riff(b"AVI ", b"LIST"), id="avi"),
        pytest.param(ftyp(b"M4V ", b"M4V ", b"M4A ", b"mp42", b"isom"), id="m4v-video"),
        pytest.param(ftyp(b"qt  ", b"qt  "), id="quicktime"),
        pytest.param(ftyp(b"avif", b"avif", b"mif1", b"miaf"), id="avif"),
        pytest.param(ftyp(b"mif1", b"mif1", b"avif"), id="avif-generic-brand"),
        pytest.param(b"\xff\xfb\xf0\x64" + b"\x00" * 8, id="mpeg-bad-bitrate"),
        pytest.param(b"\xff\xe1\x90\x64" + b"\x00" * 8, id="mpeg-reserved-layer-bits"),
        pytest.param(b"ID3\x04\x00\x00\x80\x00\x00\x00", id="id3-bad-size"),
    ],
)
def test_sniff_rejects(head: bytes) -> None:
    assert sniff_file_kind(head) is None


def test_sniff_only_looks_at_the_first_sniff_bytes() -> None:
    head = b"x" * SNIFF_BYTES + b"\x00binary tail"
    assert sniff_file_kind(head) == TEXT


def test_pdf_marker_must_be_in_the_first_kib() -> None:
    assert sniff_file_kind(b"\n" * 1023 + PDF_BYTES) == PDF
    # Past the window the file is judged as what it otherwise is: here, text.
    assert sniff_file_kind(b"\n" * 1024 + PDF_BYTES[:8] + b"\n") == TEXT


def test_csv_cut_mid_record_at_the_sample_boundary_is_still_csv() -> None:
    rows = "".join(f"{n},{n * 3}.50,2026-03-01 10:{n % 60:02d},已发货\n" for n in range(5000))
    head = rows.encode()[:SNIFF_BYTES]
    assert not head.endswith(b"\n")  # the last record really is cut short
    assert sniff_file_kind(head) == CSV


def test_text_encoding_reports_the_codec_used() -> None:
    assert sniff_text_encoding(CHAT_UTF8) == "utf-8"
    assert sniff_text_encoding(b"\xef\xbb\xbf" + CSV_TEXT.encode()) == "utf-8-sig"
    assert sniff_text_encoding(CHAT_GB18030) == "gb18030"
    assert CHAT_GB18030.decode(sniff_text_encoding(CHAT_GB18030)).startswith("客服")
    assert sniff_text_encoding(PDF_BYTES) is None
    assert sniff_text_encoding(b"<html>") is None


def test_every_kind_accepts_its_own_canonical_extension() -> None:
    for kind in KINDS:
        assert kind.extension in EXTENSIONS_BY_CONTENT_TYPE[kind.content_type]
        assert kind.extension in EXTENSIONS_BY_FAMILY[kind.family]
        assert name_matches_kind(f"evidence.{kind.extension}", kind)
    assert set(EXTENSIONS_BY_FAMILY) == {"image", "pdf", "audio", "text"}


@pytest.mark.parametrize(
    ("filename", "kind", "expected"),
    [
        ("photo.jpg", JPEG, True),
        ("photo.JPG", JPEG, True),
        ("photo.jpeg", JPEG, True),
        ("IMG_0001.HEIC", HEIF, True),
        ("photo.jpg", PDF, False),
        ("photo.png", JPEG, False),
        ("notes.txt", CSV, True),
        ("orders.csv", TEXT, True),
        ("chat.log", TEXT, True),
        ("report", PDF, True),
        ("聊天记录2026.03.01", TEXT, True),
        ("call.mp3", MP3, True),
        ("call.aac", M4A, True),
        ("call.m4a", MP3, False),
        ("invoice.pdf.exe", PDF, False),
        ("invoice.exe", PDF, False),
        ("invoice.pdf.exe.", PDF, False),
        ("invoice.pdf.exe ", PDF, False),
        ("invoice.pdf.exe\u200b", PDF, False),
        ("invoice\u202efdp.exe", PDF, False),
        ("scan.html", PDF, False),
        ("C:\\Users\\a\\凭证.PDF", PDF, True),
    ],
)
def test_name_matches_kind(filename: str, kind: FileKind, expected: bool) -> None:
    assert name_matches_kind(filename, kind) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\聊天记录.txt", "聊天记录.txt"),
        ("evil\x00name\x07.txt", "evilname.txt"),
        ("two\t\nlines  and   spaces.txt", "two lines and spaces.txt"),
        ("...", "file"),
        ("..", "file"),
        ("", "file"),
        ("dir/", "file"),
        (".hidden.txt", "hidden.txt"),
        ("<script>.txt", "script.txt"),
        ('a<b>c:d"e|f?g*h.txt', "abcdefgh.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("  report. ", "report"),
        ("e\u0301clair.pdf", "\u00e9clair.pdf"),  # NFC: decomposed é becomes one character
        ("凭证\u3000截图.png", "凭证 截图.png"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_caps_length_and_keeps_extension() -> None:
    name = "发票" * 150 + ".pdf"
    assert len(name) == 304
    assert sanitize_filename(name) == "发票" * 58 + ".pdf"
    short = sanitize_filename("a" * 300 + ".pdf", max_length=40)
    assert len(short) == 40
    assert short.endswith(".pdf")


def test_sanitize_filename_never_truncates_into_a_reserved_name() -> None:
    assert sanitize_filename("CONSOLE.txt", max_length=7) == "_CO.txt"


def test_sanitize_filename_rejects_a_max_length_too_small_for_the_fallback() -> None:
    with pytest.raises(ValueError):
        sanitize_filename("x", max_length=3)


@settings(max_examples=300, deadline=None)
@given(name=st.text(), max_length=st.integers(min_value=4, max_value=200))
def test_sanitize_filename_is_always_safe(name: str, max_length: int) -> None:
    result = sanitize_filename(name, max_length=max_length)
    assert result
    assert len(result) <= max_length
    assert not result.startswith(".")
    assert result not in (".", "..")
    for forbidden in ("/", "\\", "\x00"):
        assert forbidden not in result
    assert sanitize_filename(result, max_length=max_length) == result


@settings(max_examples=300, deadline=None)
@given(head=st.binary(max_size=2048))
def test_sniff_never_raises_and_returns_a_known_kind(head: bytes) -> None:
    assert sniff_file_kind(head) in (*KINDS, None)


def test_module_is_pure_stdlib() -> None:
    tree = ast.parse(Path(evidence.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names)
