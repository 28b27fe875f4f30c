"""tickets.fingerprints: the dHash, its bands, and the EXIF capture date (pure, no DB)."""

import io
import random
from datetime import UTC, datetime

import pytest
from PIL import Image, JpegImagePlugin

from tests.factories import picture as photo
from tests.factories import png_claiming
from tickets.fingerprints import (
    BANDS,
    NEAR_DISTANCE,
    band_neighbours,
    capture_date,
    dhash,
    dhash_bands,
    hamming,
    image_fingerprint,
    signed64,
    unsigned64,
)


def encoded(image: Image.Image, fmt="JPEG", **options) -> io.BytesIO:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    out.seek(0)
    return out


def test_dhash_is_64_bits_and_stable():
    value = dhash(photo())
    assert value is not None
    assert 0 <= value < 2**64
    assert dhash(photo()) == value


def test_dhash_compares_horizontal_neighbours():
    # Darker on the left everywhere (a left-to-right gradient): every comparison is 0;
    # mirrored, brighter on the left: every one is 1. Neither picture is flat.
    rising = Image.linear_gradient("L").rotate(90).resize((90, 80))
    assert dhash(rising) == 0
    assert dhash(rising.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == 2**64 - 1


def test_flat_picture_has_no_hash():
    assert dhash(Image.new("RGB", (300, 300), "white")) is None
    assert image_fingerprint(encoded(Image.new("RGB", (300, 300), (200, 200, 200)))).dhash is None


def test_copies_stay_within_the_near_distance_and_others_do_not():
    original = photo(seed=7, size=(1200, 900))
    h = image_fingerprint(encoded(original, "PNG")).dhash
    half = original.resize((600, 450), Image.Resampling.LANCZOS)
    assert hamming(h, image_fingerprint(encoded(half, quality=60)).dhash) <= NEAR_DISTANCE
    assert hamming(h, image_fingerprint(encoded(original, quality=60)).dhash) <= NEAR_DISTANCE
    others = [image_fingerprint(encoded(photo(seed=s), "PNG")).dhash for s in range(20, 30)]
    assert min(hamming(h, other) for other in others) > NEAR_DISTANCE


def test_hamming_counts_differing_bits():
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0001) == 2


def test_signed_form_round_trips_and_fits_a_bigint():
    for value in (0, 1, 2**63 - 1, 2**63, 2**64 - 1):
        stored = signed64(value)
        assert -(2**63) <= stored < 2**63
        assert unsigned64(stored) == value


def test_bands_are_signed_16_bit_most_significant_first():
    value = 0x0001_8000_FFFF_7FFF
    assert dhash_bands(value) == (1, -32768, -1, 32767)
    assert len(dhash_bands(2**64 - 1)) == BANDS


def test_a_hash_within_the_near_distance_shares_a_probed_band():
    # The pigeonhole the index relies on: flip any 7 bits, some band moves by ≤ 1 bit.
    rnd = random.Random(3)
    for _ in range(500):
        value = rnd.getrandbits(64)
        other = value
        for bit in rnd.sample(range(64), NEAR_DISTANCE):
            other ^= 1 << bit
        probes = [band_neighbours(band) for band in dhash_bands(value)]
        assert any(band in probed for band, probed in zip(dhash_bands(other), probes, strict=True))


def test_band_neighbours_are_the_band_and_its_one_bit_flips():
    neighbours = band_neighbours(0)
    assert len(neighbours) == 17 and len(set(neighbours)) == 17
    assert neighbours[0] == 0 and -32768 in neighbours and 1 in neighbours


def exif_jpeg(*, original=None, offset=None, plain=None) -> io.BytesIO:
    exif = Image.Exif()
    if plain:
        exif[0x0132] = plain
    sub = {}
    if original:
        sub[0x9003] = original
    if offset:
        sub[0x9011] = offset
    if sub:
        exif[0x8769] = sub
    return encoded(photo(), exif=exif)


def test_capture_date_is_beijing_time_without_an_offset():
    found = image_fingerprint(exif_jpeg(original="2026:11:20 09:30:00")).captured_at
    assert found == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)


def test_capture_date_uses_its_offset_tag():
    found = image_fingerprint(exif_jpeg(original="2026:11:20 09:30:00", offset="+02:00"))
    assert found.captured_at == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def test_capture_date_falls_back_to_datetime():
    found = image_fingerprint(exif_jpeg(plain="2026:01:02 08:00:00")).captured_at
    assert found == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "2026:13:40 25:00:00", "yesterday"])
def test_bogus_capture_dates_are_ignored(value):
    assert image_fingerprint(exif_jpeg(original=value)).captured_at is None


def test_no_exif_no_date():
    assert capture_date(Image.new("RGB", (4, 4)).getexif()) is None


def test_decompression_bomb_and_garbage_get_no_fingerprint():
    bomb = image_fingerprint(io.BytesIO(png_claiming(20_000, 10_000)))  # over Pillow's limit
    assert bomb.dhash is None and bomb.captured_at is None
    assert image_fingerprint(io.BytesIO(b"\xff\xd8\xff\xe0 not a jpeg")).dhash is None


def test_big_jpeg_is_hashed_through_a_draft(monkeypatch):
    big = encoded(photo(size=(4000, 3000)), quality=80)
    drafts = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, size):
        result = real_draft(self, mode, size)
        drafts.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    assert image_fingerprint(big).dhash is not None
    assert drafts == [(500, 375)]  # decoded at 1/8 scale
