"""Benchmark evidence-reuse matching on PostgreSQL: `make bench` (BENCH_EVIDENCE_ROWS).

Seeds a scratch ``*_bench`` database with N evidence rows (1,000,000 by default; rows
only, no files) over N / 4 tickets in 2,000 stores, then times

- the lookup an upload makes (tickets.services.evidence_reuse.evidence_matches: SHA-256
  and the four dHash bands in one query, the exact distance in SQL; the EXIF date
  check needs no query), p50 and p95 over ``--lookups`` probes;
- the whole upload service (evidence_upload: checks, thumbnail, fingerprint, file,
  rows, flags) for a real 1200 × 900 JPEG, p50 and p95 over ``--uploads`` uploads.

The fingerprints are random with the shape of real evidence: 30 % of files are not
images (PDF, recordings: no hash); images share one of N / 200 layouts (screenshots of
one app look alike) and differ from it in 12-20 random bits, the distance measured
between different chat screenshots of one layout (tickets.fingerprints); 0.5 % are
exact copies of an earlier file and 0.5 % near copies (1-5 bits), on other tickets.

    manage.py bench_evidence --rows 1000000
    manage.py bench_evidence --skip-seed --lookups 500

Seeded with COPY (rows) and one INSERT … SELECT (tickets); the secondary indexes are
built after the rows. The pytest database (``test_…``) is accepted too, so a test runs
it on tiny numbers.
"""

import io
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from PIL import Image, ImageDraw

from merchants.models import Membership, Store
from tickets.fingerprints import dhash_bands, signed64
from tickets.models import Evidence, Policy, Ticket
from tickets.services.evidence import evidence_upload
from tickets.services.evidence_reuse import evidence_matches, taken_before

from .bench_pages import BenchCommand, bulk_load, percentile

STORE_PREFIX = "EB-"
UPLOADER = "bench_evidence_uploader"
UPLOAD_PREFIX = "上传"  # the names of the timed uploads' files
TRUNCATE = "TRUNCATE merchants_store RESTART IDENTITY CASCADE"
EVIDENCE_PER_TICKET = 4
NOT_IMAGES = 0.30
EXACT_COPIES = 0.005
NEAR_COPIES = 0.005
LAYOUT_ROWS = 200  # images per shared layout
LAYOUT_BITS = (12, 20)  # how far an image is from its layout
COPY_BITS = (1, 5)  # how far a planted near copy is from its original
TARGET_MS = 50

STORES_SQL = """
    INSERT INTO merchants_store
        (platform, name, code, jd_business_type, jd_business_line, after_sales_email,
         is_active, created_at, bot_kind, bot_secret, bot_url, round_robin, deposit)
    SELECT p.platform, '凭证压测店铺 ' || i, %(prefix)s || lpad(i::text, 4, '0'),
           CASE WHEN p.platform = 'jd' THEN 'pop' ELSE '' END,
           CASE WHEN p.platform = 'jd' THEN 'general' ELSE '' END,
           '', true, %(now)s, '', '', '', false, 0
    FROM generate_series(0, %(stores)s - 1) AS i,
         LATERAL (SELECT CASE WHEN i %% 10 < 5 THEN 'taobao'
                              WHEN i %% 10 < 8 THEN 'tmall' ELSE 'jd' END AS platform) AS p
"""

# 5 % open (the uploads go to these), the rest closed; opened in the last 90 days.
TICKETS_SQL = """
    INSERT INTO tickets_ticket
        (number, store_id, policy_id, order_number, kind, worry_free, category, summary,
         consumer_name, consumer_phone, created_at, due_at, state, priority,
         escalated_at, updated_at, assignee_id)
    SELECT 'EV' || lpad(g::text, 9, '0'), s.id,
           CASE s.platform WHEN 'jd' THEN %(p_jd)s WHEN 'tmall' THEN %(p_tm)s
                ELSE %(p_tb)s END,
           (4000000000000000000 + g::bigint * 2654435761)::text,
           'normal', false, 'other', '商品与描述不符', '张三', '13800000000',
           t.created_at, t.created_at + interval '24 hours',
           CASE WHEN g %% 20 = 0 THEN 'open' ELSE 'closed' END, 0, NULL,
           t.created_at, NULL
    FROM generate_series(1, %(tickets)s) AS g
    JOIN merchants_store AS s ON s.code = %(prefix)s || lpad((g %% %(stores)s)::text, 4, '0')
    CROSS JOIN LATERAL (
        SELECT %(now)s::timestamptz - (g %% 7919) / 7919.0 * interval '89 days'
               - interval '1 day' AS created_at
    ) AS t
"""

EVIDENCE_COLUMNS = (
    "ticket_id",
    "file",
    "original_name",
    "sha256",
    "size",
    "content_type",
    "uploaded_by_id",
    "uploaded_at",
    "thumbnail",
    "fingerprinted_at",
    "dhash",
    "dhash_band0",
    "dhash_band1",
    "dhash_band2",
    "dhash_band3",
    "captured_at",
    "from_platform",
)


def flip_bits(value: int, count: int, rnd: random.Random) -> int:
    for bit in rnd.sample(range(64), count):
        value ^= 1 << bit
    return value


def bench_picture(seed: int) -> bytes:
    """A 1200 × 900 JPEG with content (boxes and ellipses on a gradient)."""
    rnd = random.Random(seed)
    image = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rnd.randrange(1200), rnd.randrange(900)
        w, h = rnd.randint(20, 300), rnd.randint(20, 300)
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=tuple(rnd.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class Command(BenchCommand):
    help = "Seed N evidence rows and time the reuse lookup and the upload service (p50, p95)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--stores", type=int, default=2_000)
        parser.add_argument("--lookups", type=int, default=300)
        parser.add_argument("--uploads", type=int, default=30)
        parser.add_argument("--seed", type=int, default=20261124, help="random seed")
        parser.add_argument(
            "--skip-seed", action="store_true", help="re-measure the database as it is"
        )

    def _run(self, options):
        if options["lookups"] < 1 or options["uploads"] < 1:
            raise CommandError("--lookups and --uploads must be at least 1.")
        rnd = random.Random(options["seed"])
        out = self.stdout.write
        if options["skip_seed"]:
            if not Store.objects.filter(code__startswith=STORE_PREFIX).exists():
                raise CommandError("Nothing seeded yet: run once without --skip-seed.")
            seeded = "reused"
        else:
            if options["rows"] < 100 or not 2 <= options["stores"] <= 9999:
                raise CommandError("Need --rows ≥ 100 and 2 ≤ --stores ≤ 9999.")
            start = time.perf_counter()
            self._seed(rows=options["rows"], stores=options["stores"], rnd=rnd)
            seeded = f"{time.perf_counter() - start:.1f} s"

        rows = Evidence.objects.count()
        hashed = Evidence.objects.exclude(dhash=None).count()
        version = connection.pg_version
        out(
            f"PostgreSQL {version // 10000}.{version % 100}, {rows:,} evidence rows "
            f"({hashed:,} images with a dHash) on {Ticket.objects.count():,} tickets; "
            f"seeding: {seeded}"
        )
        lookups, found, plan = self._lookups(options["lookups"], rnd)
        uploads = self._uploads(options["uploads"], options["seed"])
        width = 40
        out(f"{'measure':<{width}}{'p50 ms':>9}{'p95 ms':>9}{'n':>6}")
        for label, times in (
            ("lookup: exact + near + date (1 query)", lookups),
            ("upload: evidence_upload, 1200x900 JPEG", uploads),
        ):
            out(
                f"{label:<{width}}{statistics.median(times) * 1000:>9.1f}"
                f"{percentile(times, 0.95) * 1000:>9.1f}{len(times):>6d}"
            )
        out(
            f"matches per lookup: mean {statistics.mean(found):.2f}, max {max(found)}; "
            f"database time per lookup p50 {statistics.median(self.sql_ms):.1f} ms "
            f"(the rest is building the query in Python); plan: {plan}"
        )

    # --- the measures ----------------------------------------------------------------------

    def _lookups(self, count: int, rnd: random.Random) -> tuple[list[float], list[int], str]:
        """The matching query of ``count`` image rows, planted copies among them, each as
        the upload would run it for that row (its pk the latest: nothing after it)."""
        top = Evidence.objects.order_by("-pk").values_list("pk", flat=True).first()
        probes = list(
            Evidence.objects.exclude(dhash=None)
            .filter(pk__gt=top * 3 // 4)  # late rows: most of the table is before them
            .select_related("ticket")
            .order_by("?")[:count]
        )
        if not probes:
            raise CommandError("No fingerprinted image rows to look up.")
        times, found = [], []
        evidence_matches(item=probes[0], ticket=probes[0].ticket)  # warm: plans, caches
        for item in probes:
            start = time.perf_counter()
            flags = evidence_matches(item=item, ticket=item.ticket)
            early = taken_before(item, item.ticket)
            times.append(time.perf_counter() - start)
            found.append(len(flags) + early)
        # Again with the queries captured: how much of a lookup the database spends.
        with CaptureQueriesContext(connection) as queries:
            for item in probes:
                evidence_matches(item=item, ticket=item.ticket)
        self.sql_ms = [float(q["time"]) * 1000 for q in queries.captured_queries]
        return times, found, self._plan(probes[0])

    def _plan(self, item: Evidence) -> str:
        """Which indexes the lookup's plan reads (EXPLAIN of the real query)."""
        with CaptureQueriesContext(connection) as queries:
            evidence_matches(item=item, ticket=item.ticket)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {queries.captured_queries[-1]['sql']}")
            lines = [row[0] for row in cursor.fetchall()]
        used = sorted({word for line in lines for word in line.split() if "evidence_" in word})
        scans = sorted(
            {line.strip().lstrip("-> ").split("  ")[0].split(" on ")[0] for line in lines}
        )
        return f"{', '.join(used) or 'no index'} ({'; '.join(s for s in scans if 'Scan' in s)})"

    def _uploads(self, count: int, seed: int) -> list[float]:
        """``count`` real uploads onto open tickets, files in a temporary directory."""
        user = get_user_model().objects.get(username=UPLOADER)
        # Open tickets without an earlier run's upload, new pictures each run.
        done = Evidence.objects.exclude(thumbnail="")  # the seed writes rows only
        tickets = list(
            Ticket.objects.filter(state="open", number__startswith="EV")
            .exclude(pk__in=done.values("ticket_id"))
            .select_related("store")
            .order_by("-pk")[:count]
        )
        seed += done.count()
        for store_id in {t.store_id for t in tickets}:
            Membership.objects.get_or_create(
                user=user, store_id=store_id, defaults={"role": Membership.Role.OWNER}
            )
        pictures = [bench_picture(seed + index) for index in range(len(tickets))]
        times = []
        with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
            for index, (ticket, content) in enumerate(zip(tickets, pictures, strict=True)):
                upload = SimpleUploadedFile(f"{UPLOAD_PREFIX}{index}.jpg", content, "image/jpeg")
                start = time.perf_counter()
                evidence_upload(ticket=ticket, user=user, upload=upload)
                times.append(time.perf_counter() - start)
        return times

    # --- the seed ---------------------------------------------------------------------------

    def _seed(self, *, rows: int, stores: int, rnd: random.Random) -> None:
        now = timezone.now()
        user, _ = get_user_model().objects.get_or_create(username=UPLOADER)
        policies = {p.platform: p.pk for p in Policy.objects.filter(kind="normal")}
        tickets = max(rows // EVIDENCE_PER_TICKET, stores)
        params = {
            "now": now,
            "stores": stores,
            "tickets": tickets,
            "prefix": STORE_PREFIX,
            "p_tb": policies["taobao"],
            "p_tm": policies["tmall"],
            "p_jd": policies["jd"],
        }
        # Its tickets too: their trigram search index is best built after the rows.
        with bulk_load(["tickets_ticket", "tickets_evidence"]) as cursor:
            cursor.execute(TRUNCATE)
            cursor.execute(STORES_SQL, params)
            cursor.execute(TICKETS_SQL, params)
            cursor.execute("SELECT min(id), max(id) FROM tickets_ticket")
            first, last = cursor.fetchone()
            cursor.execute("SELECT id, created_at FROM tickets_ticket ORDER BY id")
            created = dict(cursor.fetchall())
            self._copy_evidence(
                cursor, rows=rows, tickets=(first, last), created=created, user=user.pk, rnd=rnd
            )

    @staticmethod
    def _copy_evidence(cursor, *, rows, tickets, created, user, rnd) -> None:
        first, last = tickets
        layouts = [rnd.getrandbits(64) for _ in range(max(rows // LAYOUT_ROWS, 10))]
        images: list[tuple[int, str, int]] = []  # (ticket, sha256, dhash) to copy from
        columns = ", ".join(EVIDENCE_COLUMNS)
        with cursor.cursor.copy(f"COPY tickets_evidence ({columns}) FROM STDIN") as copy:
            for index in range(rows):
                ticket = rnd.randint(first, last)
                uploaded_at = created[ticket] + timedelta(hours=rnd.random() * 20)
                roll = rnd.random()
                sha256 = os.urandom(32).hex()
                if roll < NOT_IMAGES:
                    copy.write_row(
                        (ticket, f"evidence/{ticket}/{sha256}.pdf", f"发票{index}.pdf", sha256)
                        + (120_000, "application/pdf", user, uploaded_at, "", uploaded_at)
                        + (None,) * 6
                        + (False,)
                    )
                    continue
                if images and roll < NOT_IMAGES + EXACT_COPIES:
                    original, sha256, value = rnd.choice(images)
                    if ticket == original:  # one file per ticket (evidence_unique_per_ticket)
                        ticket = first if ticket == last else ticket + 1
                elif images and roll < NOT_IMAGES + EXACT_COPIES + NEAR_COPIES:
                    value = flip_bits(rnd.choice(images)[2], rnd.randint(*COPY_BITS), rnd)
                else:
                    value = flip_bits(rnd.choice(layouts), rnd.randint(*LAYOUT_BITS), rnd)
                    if len(images) < 50_000:
                        images.append((ticket, sha256, value))
                captured_at = (
                    uploaded_at - timedelta(days=rnd.random() * 30) if rnd.random() < 0.5 else None
                )
                copy.write_row(
                    (ticket, f"evidence/{ticket}/{sha256}.jpg", f"截图{index}.jpg", sha256)
                    + (350_000, "image/jpeg", user, uploaded_at, "", uploaded_at)
                    + (signed64(value), *dhash_bands(value), captured_at, False)
                )
