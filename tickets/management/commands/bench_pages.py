"""Benchmark the merchant dashboard and the staff admin on PostgreSQL: `make bench`.

Seeds a scratch ``*_bench`` database with set-based SQL (never the ORM per row): N
tickets (1,000,000 by default) over 90 days and 2,000 Taobao / Tmall / JD stores, one
Taobao store ("the big store", 300,000 tickets by default) in every state with its
owner ``bench_owner``; replies, contacts, events, judgments, violations, the JD
penalty ledger, 90 days of day reports, notifications, a few hundred appeals and the
superuser ``bench_admin``. Then it requests every merchant page and filter and the
admin's queues in-process with Django's test client (server-side: no network, no
browser), and prints p50, p95 and the query count of each.

    manage.py bench_pages --tickets 100000 --big-store 30000
    manage.py bench_pages --skip-seed --only search --only admin   # re-measure in seconds
    manage.py bench_pages --skip-seed --explain 3   # the 3 slowest pages' worst query, EXPLAINed

The pytest database (``test_…``) is accepted too, so a test runs it on tiny numbers.
"""

import math
import statistics
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from arbitration.models import Appeal
from merchants.models import Membership, Store
from tickets.models import Policy, Ticket

DAYS = 90
STORE_PREFIX = "PB-"
BIG_STORE_CODE = f"{STORE_PREFIX}0000"
OWNER, ADMIN, MERCHANT = "bench_owner", "bench_admin", "bench_merchant"
STAFF = ("bench_staff_1", "bench_staff_2", "bench_staff_3")
TARGET_MS = 50

# Consumer names (the first is the one searched for: a merchant types a whole name).
NAMES = [
    "王秀英", "李建国", "张伟", "刘洋", "陈静", "杨帆", "赵丽娟", "黄志强", "周敏", "吴晓东",
    "徐磊", "孙丽", "马超", "朱海燕", "胡军", "郭婷", "何勇", "高翔", "林小红", "罗斌",
]  # fmt: skip
# (category, summary): what platform CS writes when it opens a ticket.
TOPICS = [
    ("urge_shipment", "催促发货：消费者称付款三天仍未发货"),
    ("logistics", "物流长时间未更新，消费者要求核实包裹去向"),
    ("logistics", "物流显示已签收但消费者表示未收到"),
    ("refund_progress", "申请退款后商家迟迟未处理"),
    ("quality", "商品质量问题，收到后发现外包装破损"),
    ("wrong_or_missing", "少发漏发，包裹内缺少赠品"),
    ("invoice", "消费者要求补开增值税发票"),
    ("after_sales", "售后维修申请无人响应"),
    ("price_protection", "购买后七天内降价，申请价格保护"),
    ("quality", "衣服尺码与详情页描述不符，要求退换"),
    ("other", "消费者投诉客服回复态度差"),
    ("wrong_or_missing", "收到的颜色与订单不一致"),
]
SUMMARY_WORD = "物流"  # two characters, as merchants type it
REASONINGS = [
    "商家未能提供有效发货凭证，判定商家责任。",
    "物流轨迹显示包裹已妥投，消费者主张不成立。",
    "商品与描述不符，支持消费者退款。",
    "双方证据不足，按平台规则处理。",
]

# Every table the seed fills hangs off a store: truncating the stores (CASCADE) empties
# them all, whichever benchmark filled them.
TRUNCATE = "TRUNCATE merchants_store RESTART IDENTITY CASCADE"


@dataclass
class Page:
    label: str
    url: str
    who: str  # "owner" (the big store's owner) or "admin" (the superuser)
    headers: dict = field(default_factory=dict)


@dataclass
class Result:
    page: Page
    times: list[float] = field(default_factory=list)
    queries: int = 0
    sql_ms: float = 0.0  # the database's time in the counted request
    error: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.times, 0.95) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the value ``fraction`` of the samples were at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def machine_speed() -> tuple[float, float]:
    """Two fixed workloads, each the best of five runs, in ms: Python (formatting and
    sorting 100,000 strings, like a page's rows) and PostgreSQL (counting a generated
    million rows). The machines this runs on differ by 2× from day to day; these tell a
    slower machine from slower code when runs of different days are compared."""

    def python() -> None:
        sorted(f"<td>{i:06d}</td>" for i in range(100_000))

    def sql() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM generate_series(1, 1000000)")
            cursor.fetchone()

    def best(workload) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            workload()
            times.append(time.perf_counter() - start)
        return min(times) * 1000

    return best(python), best(sql)


def scratch_database(name: str) -> bool:
    """A database the benchmark may truncate: a ``*_bench`` one, or pytest's ``test_…``."""
    return name.endswith("_bench") or name.startswith("test_")


def require_scratch_postgres() -> None:
    """Every benchmark's guard: PostgreSQL, and a database it may truncate."""
    if connection.vendor != "postgresql":
        raise CommandError("The benchmark needs PostgreSQL (DATABASE_URL=postgres://…).")
    name = connection.settings_dict["NAME"]
    if not scratch_database(name):
        raise CommandError(f"Refusing to truncate {name!r}: use a database named *_bench.")


@contextmanager
def bulk_load(tables: list[str], *, timed: Callable[[str, float], None] | None = None):
    """A transaction to fill ``tables`` in bulk; yields its cursor. The seeds of
    bench_pages and bench_evidence go through it (bench_sweep's and bench_reports' are
    small or seed-then-index already).

    For this transaction only: memory for the index builds and, as superuser, no
    per-row foreign-key triggers (the seeds read every reference from the referenced
    table itself). The tables' secondary indexes are dropped for the load and built
    again from the catalogue's own definitions after it: filling, then indexing, beats
    growing the indexes row by row (the trigram GIN index above all) many times over.
    Then VACUUM (ANALYZE), as autovacuum leaves a steady-state database (only ANALYZE
    inside pytest's transaction). ``timed(label, seconds)`` hears of the last two steps.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")
        indexes = secondary_indexes(cursor, tables)
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        yield cursor
        started = time.perf_counter()
        for _, definition in indexes:
            cursor.execute(definition)
        if timed:
            timed(f"{len(indexes)} indexes", time.perf_counter() - started)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # pytest's transaction: VACUUM cannot run there
            cursor.execute("ANALYZE")
        else:
            cursor.execute("VACUUM (ANALYZE)")
    if timed:
        timed("vacuum, analyze", time.perf_counter() - started)


def secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of each index of ``tables`` that no primary-key,
    unique or exclusion constraint owns, read from the catalogue (so a migration's
    index is rebuilt exactly as it made it)."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        WHERE i.indrelid = ANY (%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                          WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        ORDER BY 1
        """,
        [tables],
    )
    return cursor.fetchall()


class BenchCommand(BaseCommand):
    """A benchmark that requests pages or uploads through Django: on PostgreSQL, in a
    scratch database, without WhiteNoise's "No directory at: staticfiles/" warning when
    collectstatic never ran. Subclasses write ``_run(options)``."""

    def handle(self, *args, **options):
        require_scratch_postgres()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "No directory at", UserWarning)
            self._run(options)

    def _run(self, options):
        raise NotImplementedError


class Command(BenchCommand):
    help = "Seed a large store and time every dashboard and admin page (p50, p95, queries)."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=1_000_000)
        parser.add_argument("--big-store", type=int, default=300_000, dest="big_store")
        parser.add_argument("--stores", type=int, default=2_000)
        parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            help="measure only pages whose label contains this (repeatable)",
        )
        parser.add_argument(
            "--skip-seed", action="store_true", help="re-measure the database as it is"
        )
        parser.add_argument(
            "--explain",
            type=int,
            default=0,
            metavar="N",
            help="EXPLAIN ANALYZE the slowest query of the N slowest pages over the target",
        )

    def _run(self, options):
        tickets, big, stores = options["tickets"], options["big_store"], options["stores"]
        if options["requests"] < 1:
            raise CommandError("--requests must be at least 1.")
        out = self.stdout.write
        if options["skip_seed"]:
            if not Store.objects.filter(code=BIG_STORE_CODE).exists():
                raise CommandError("Nothing seeded yet: run once without --skip-seed.")
            seeded = "reused"
        else:
            if not 2 <= stores <= 9999 or not 0 < big < tickets:
                raise CommandError("Need 2 ≤ --stores ≤ 9999 and 0 < --big-store < --tickets.")
            start = time.perf_counter()
            self._seed(tickets=tickets, big=big, stores=stores, steps=options["verbosity"] > 1)
            seeded = f"{time.perf_counter() - start:.1f} s"

        big_store = Store.objects.get(code=BIG_STORE_CODE)
        tickets = Ticket.objects.count()
        big = Ticket.objects.filter(store=big_store).count()
        stores = Store.objects.filter(code__startswith=STORE_PREFIX).count()
        version = connection.pg_version
        age = timezone.now() - big_store.created_at
        out(
            f"PostgreSQL {version // 10000}.{version % 100}, {tickets:,} tickets over "
            f"{stores:,} stores ({DAYS} days), big store {big:,} "
            f"({big_store.get_platform_display()}), {options['requests']} requests per page "
            f"(server-side, in-process test client)"
        )
        out(f"seeding: {seeded}; data seeded {age.total_seconds() / 3600:.1f} h ago")
        python_ms, sql_ms = machine_speed()
        out(f"machine: Python {python_ms:.1f} ms, PostgreSQL {sql_ms:.1f} ms (fixed workloads)")
        if age > timedelta(hours=6):
            out("  (open tickets age with the clock: re-seed for the intended shape)")

        pages, terms = self._pages(big_store)
        out("search terms: " + ", ".join(f"{k} {v!r}" for k, v in terms.items()))
        only = [s.lower() for s in options["only"]]
        if only:
            pages = [p for p in pages if any(s in p.label.lower() for s in only)]
            if not pages:
                raise CommandError(f"No page label contains {options['only']}.")
        results = self._measure(pages, requests=options["requests"], store=big_store)

        # -v2 adds the time one request spent waiting for the database (the rest of
        # the p50 is Python: the view, the template, the middleware).
        sql = options["verbosity"] > 1
        width = max(len(p.label) for p in pages) + 2
        out(
            f"{'page':<{width}}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}"
            + (f"{'sql ms':>9}" if sql else "")
        )
        for result in results:
            label = f"{result.page.label:<{width}}"
            if result.error:
                out(f"{label}  {result.error}")
            else:
                out(
                    f"{label}{result.p50:>9.1f}{result.p95:>9.1f}{result.queries:>9d}"
                    + (f"{result.sql_ms:>9.1f}" if sql else "")
                )
        measured = [r for r in results if not r.error]
        if measured:
            worst = max(measured, key=lambda r: r.p95)
            over = sum(r.p95 >= TARGET_MS for r in measured)
            out(
                f"slowest p95: {worst.p95:.1f} ms ({worst.page.label}); "
                f"{over} of {len(measured)} pages at or over {TARGET_MS} ms"
            )
        if options["explain"]:
            slow = sorted(
                (r for r in measured if r.p95 >= TARGET_MS), key=lambda r: r.p95, reverse=True
            )
            for result in slow[: options["explain"]]:
                self._explain(result.page)
        failed = [r for r in results if r.error]
        if failed:
            raise CommandError(
                "Failed: " + "; ".join(f"{r.page.label} ({r.error})" for r in failed)
            )

    # --- the pages ------------------------------------------------------------------------

    def _pages(self, store: Store) -> tuple[list[Page], dict]:
        """Every page and filter, with search terms taken from the big store's own rows."""
        # A ticket from the middle of the store's history (not the first rows, whose
        # numbers are mostly zeros), with a whole three-character name.
        mine = Ticket.objects.filter(store=store).order_by("pk")
        named = mine.filter(consumer_name=NAMES[0])
        sample = named[named.count() // 2] if named.exists() else mine[mine.count() // 2]
        appealed = (
            Appeal.objects.filter(store=store).order_by("pk").values_list("ticket_id", flat=True)
        )
        detail = appealed.first() or sample.pk
        terms = {
            "number fragment": sample.number[-6:],
            "name": sample.consumer_name,
            "phone tail": sample.consumer_phone[-4:],
            "summary word": SUMMARY_WORD,
            "2-letter prefix": sample.number[:2],
        }
        home = reverse("home")
        queue = [
            ("queue: to do (default)", home),
            ("queue: due soon", f"{home}?view=soon"),
            ("queue: overdue", f"{home}?view=overdue"),
            ("queue: replied", f"{home}?view=replied"),
            ("queue: escalated", f"{home}?view=escalated"),
            ("queue: all", f"{home}?view=all"),
            ("queue: assigned to me", f"{home}?view=mine"),
            ("queue: all, newest first", f"{home}?view=all&sort=-created"),
            ("queue: all, page 50", f"{home}?view=all&page=50"),
        ]
        search = [
            (f"search: {what}", f"{home}?{urlencode({'view': 'all', 'q': term})}")
            for what, term in terms.items()
        ]
        merchant = [
            ("overview", reverse("overview")),
            ("reports", reverse("reports")),
            ("notifications", reverse("notifications")),
            ("notification bell", reverse("notification_bell")),
            ("appeals", reverse("appeals")),
            ("ticket page", reverse("ticket_detail", args=[detail])),
        ]
        tickets_admin = reverse("admin:tickets_ticket_changelist")
        admin = [
            ("admin: escalated queue", reverse("admin:arbitration_escalatedticket_changelist")),
            ("admin: ticket list", tickets_admin),
            (
                "admin: ticket search",
                f"{tickets_admin}?{urlencode({'q': terms['number fragment']})}",
            ),
            ("admin: appeal queue", reverse("admin:arbitration_appeal_changelist")),
        ]
        pages = [Page(label, url, "owner") for label, url in queue + search + merchant]
        for page in pages:
            if page.label == "notification bell":
                # Polled by htmx every 30 s: asked for the way the page does.
                page.headers = {"HX-Request": "true"}
        pages += [Page(label, url, "admin") for label, url in admin]
        return pages, terms

    def _measure(self, pages: list[Page], *, requests: int, store: Store) -> list[Result]:
        users = get_user_model().objects
        clients = {"owner": Client(), "admin": Client()}
        clients["owner"].force_login(users.get(username=OWNER))
        clients["admin"].force_login(users.get(username=ADMIN))
        owner = Membership.objects.filter(store=store, user__username=OWNER)
        results = []
        for page in pages:
            client, result = clients[page.who], Result(page)
            results.append(result)
            # The notification list marks everything seen: give every page the same
            # two days of unread notifications (the bell's worst case is its cap).
            owner.update(notifications_seen_at=timezone.now() - timedelta(days=2))
            response = client.get(page.url, headers=page.headers)  # warm: templates, caches
            if response.status_code != 200:
                result.error = f"status {response.status_code}"
                continue
            with CaptureQueriesContext(connection) as queries:
                client.get(page.url, headers=page.headers)
            result.queries = len(queries)
            result.sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
            for _ in range(requests):
                start = time.perf_counter()
                response = client.get(page.url, headers=page.headers)
                result.times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    result.error = f"status {response.status_code}"
                    break
        return results

    def _explain(self, page: Page) -> None:
        """The page's slowest SELECT, run again under EXPLAIN (ANALYZE, BUFFERS)."""
        client = Client()
        client.force_login(
            get_user_model().objects.get(username=OWNER if page.who == "owner" else ADMIN)
        )
        with CaptureQueriesContext(connection) as queries:
            client.get(page.url, headers=page.headers)
        selects = [q for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]
        if not selects:
            return
        worst = max(selects, key=lambda q: float(q["time"]))
        self.stdout.write(
            f"\n== {page.label}: slowest of {len(queries)} queries, "
            f"{float(worst['time']) * 1000:.1f} ms ==\n{worst['sql']}"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {worst['sql']}")
            self.stdout.write("\n".join(row[0] for row in cursor.fetchall()))

    # --- the seed -------------------------------------------------------------------------

    def _users(self) -> dict:
        User = get_user_model()
        ids = {}
        for username in (OWNER, MERCHANT, *STAFF):
            user, _ = User.objects.get_or_create(username=username)
            ids[username] = user.pk
        admin, _ = User.objects.get_or_create(username=ADMIN)
        admin.is_staff = admin.is_superuser = True
        admin.set_unusable_password()
        admin.save()
        ids[ADMIN] = admin.pk
        return ids

    def _seed(self, *, tickets: int, big: int, stores: int, steps: bool) -> None:
        """Everything in set-based statements (SEED_STEPS); ``steps`` prints each one's time."""
        now = timezone.now()
        users = self._users()
        policies = {(p.platform, p.kind): p.pk for p in Policy.objects.all()}
        params = {
            "now": now,
            "today": timezone.localdate(now),
            "n": tickets,
            "big": big,
            "stores": stores,
            "p_tb": policies[("taobao", "normal")],
            "p_tm": policies[("tmall", "normal")],
            "p_jd": policies[("jd", "normal")],
            "p_crc": policies[("jd", "crc_high_risk")],
            "owner": users[OWNER],
            "merchant": users[MERCHANT],
            "admin": users[ADMIN],
            "staff": [users[name] for name in STAFF],
            "names": NAMES,
            "categories": [category for category, _ in TOPICS],
            "summaries": [summary for _, summary in TOPICS],
            "reasonings": REASONINGS,
            "prefix": STORE_PREFIX,
            "big_code": BIG_STORE_CODE,
        }

        def timed(label: str, took: float) -> None:
            if steps:
                self.stdout.write(f"  {label:<16}{'':>17} {took:7.1f} s")

        with bulk_load(BULK_TABLES, timed=timed) as cursor:
            self._step(cursor, "truncate", TRUNCATE, params, steps)
            for step, sql in SEED_STEPS:
                self._step(cursor, step, sql, params, steps)
                if step == "stores":
                    cursor.execute(
                        "SELECT id FROM merchants_store WHERE code = %s", [BIG_STORE_CODE]
                    )
                    params["big_id"] = cursor.fetchone()[0]

    def _step(self, cursor, step: str, sql: str, params: dict, steps: bool) -> None:
        started = time.perf_counter()
        cursor.execute(sql, params if "%(" in sql else None)
        if steps:
            took = time.perf_counter() - started
            self.stdout.write(f"  {step:<16}{cursor.rowcount:>12,} rows {took:7.1f} s")


# The large tables the seed fills: their secondary indexes are built after the rows.
BULK_TABLES = [
    "tickets_ticket",
    "tickets_reply",
    "tickets_ticketevent",
    "tickets_contactattempt",
    "tickets_notification",
    "tickets_reminder",
    "arbitration_judgment",
    "arbitration_storedayreport",
]

# Each step is one statement; %(name)s are the parameters built in Command._seed.
SEED_STEPS = [
    (
        "stores",
        # Half Taobao, three in ten Tmall, two in ten JD (POP, some SOP, general line);
        # store 0 is the big Taobao store.
        """
        INSERT INTO merchants_store
            (platform, name, code, jd_business_type, jd_business_line, after_sales_email,
             is_active, created_at, bot_kind, bot_secret, bot_url, round_robin, deposit)
        SELECT p.platform,
               CASE WHEN i = 0 THEN '压测旗舰店' ELSE '压测店铺 ' || i END,
               %(prefix)s || lpad(i::text, 4, '0'),
               CASE WHEN p.platform <> 'jd' THEN '' WHEN i %% 20 = 9 THEN 'sop' ELSE 'pop' END,
               CASE WHEN p.platform = 'jd' THEN 'general' ELSE '' END,
               '', true, %(now)s, '', '', '', false,
               CASE WHEN p.platform = 'jd' THEN 20000 ELSE 0 END
        FROM generate_series(0, %(stores)s - 1) AS i,
             LATERAL (SELECT CASE WHEN i %% 10 < 5 THEN 'taobao'
                                  WHEN i %% 10 < 8 THEN 'tmall' ELSE 'jd' END AS platform) AS p
        """,
    ),
    (
        "memberships",
        """
        INSERT INTO merchants_membership
            (user_id, store_id, role, on_duty, notifications_seen_at, created_at)
        SELECT u, %(big_id)s, CASE WHEN u = %(owner)s THEN 'owner' ELSE 'after_sales' END,
               true, %(now)s - interval '2 days', %(now)s
        FROM unnest(ARRAY[%(owner)s] || %(staff)s::int[]) AS u
        """,
    ),
    (
        "tickets",
        # The state first, then a creation time that fits it: open tickets were opened in
        # the last 24 hours (a few just past due, the sweep not yet run), replied ones in
        # the last 3 days, escalated ones 1-10 days ago, judged and closed ones any time
        # in the 90 days. 8 % open, 5 % replied, 3 % escalated, 15 % judged, 69 % closed;
        # a quarter of JD tickets are CRC high-risk (4 working hours, 09:00-19:00).
        """
        INSERT INTO tickets_ticket
            (number, store_id, policy_id, order_number, kind, worry_free, category, summary,
             consumer_name, consumer_phone, created_at, due_at, state, priority,
             escalated_at, updated_at, assignee_id)
        SELECT CASE platform WHEN 'taobao' THEN 'TB' WHEN 'tmall' THEN 'TM' ELSE 'JD' END
                   || to_char(local_created, 'YYYYMMDD') || lpad(g::text, 7, '0'),
               store_id,
               CASE WHEN crc THEN %(p_crc)s WHEN platform = 'jd' THEN %(p_jd)s
                    WHEN platform = 'tmall' THEN %(p_tm)s ELSE %(p_tb)s END,
               (3000000000000000000 + g::bigint * 2654435761)::text,
               CASE WHEN crc THEN 'crc_high_risk' ELSE 'normal' END,
               state <> 'judged' AND r_free < 0.02,
               (%(categories)s::text[])[topic], (%(summaries)s::text[])[topic],
               (%(names)s::text[])[who],
               '1' || (ARRAY['3', '5', '8', '9'])[1 + g %% 4]
                   || lpad(((g::bigint * 40503) %% 1000000000)::text, 9, '0'),
               created_at, due_at, state, CASE WHEN crc THEN 10 ELSE 0 END,
               escalated_at,
               CASE state WHEN 'open' THEN created_at
                          WHEN 'replied' THEN created_at + (least(due_at, %(now)s) - created_at) / 2
                          WHEN 'escalated' THEN escalated_at
                          WHEN 'judged' THEN escalated_at + interval '1 day'
                          ELSE least(created_at + interval '3 days', %(now)s) END,
               CASE WHEN store_id <> %(big_id)s THEN NULL
                    WHEN r_assign < 0.10 THEN %(owner)s
                    WHEN r_assign < 0.25 THEN (%(staff)s::int[])[1 + g %% 3] END
        FROM (
            SELECT *,
                   CASE WHEN state IN ('escalated', 'judged') THEN
                       CASE WHEN r_reply < 0.4  -- replied "not settled": escalated at once
                            THEN created_at + (due_at - created_at) * (0.1 + 0.8 * r_time)
                            ELSE due_at END  -- timed out
                   END AS escalated_at
            FROM (
                SELECT *,
                       CASE WHEN NOT crc THEN created_at + interval '24 hours'
                       ELSE (CASE WHEN local_created::time < '09:00' THEN
                                      date_trunc('day', local_created) + interval '13 hours'
                                  WHEN local_created::time < '15:00' THEN
                                      local_created + interval '4 hours'
                                  WHEN local_created::time < '19:00' THEN
                                      local_created + interval '18 hours'
                                  ELSE date_trunc('day', local_created) + interval '1 day 13 hours'
                             END) AT TIME ZONE 'Asia/Shanghai'
                       END AS due_at
                FROM (
                    SELECT *, created_at AT TIME ZONE 'Asia/Shanghai' AS local_created
                    FROM (
                        SELECT s.*, st.id AS store_id, st.platform,
                               st.platform = 'jd' AND s.r_kind < 0.25 AS crc,
                               %(now)s::timestamptz - CASE s.state
                                   WHEN 'open' THEN s.r_time * interval '24 hours 10 minutes'
                                   WHEN 'replied' THEN interval '1 hour'
                                                       + s.r_time * interval '71 hours'
                                   WHEN 'escalated' THEN interval '26 hours'
                                                         + s.r_time * interval '8 days'
                                   WHEN 'judged' THEN interval '5 days'
                                                      + s.r_time * interval '85 days'
                                   ELSE interval '1 day' + s.r_time * interval '89 days'
                               END AS created_at
                        FROM (
                            SELECT g,
                                   CASE WHEN g <= %(big)s THEN 0
                                        ELSE 1 + g %% (%(stores)s - 1) END AS store_index,
                                   CASE WHEN r < 0.08 THEN 'open' WHEN r < 0.13 THEN 'replied'
                                        WHEN r < 0.16 THEN 'escalated'
                                        WHEN r < 0.31 THEN 'judged' ELSE 'closed' END AS state,
                                   r_time, r_kind, r_free, r_reply, r_assign,
                                   1 + (g * 7 + (r_time * 1000)::int) %% 12 AS topic,
                                   1 + (g * 13 + (r_kind * 1000)::int) %% 20 AS who
                            FROM (
                                SELECT g, random() AS r, random() AS r_time,
                                       random() AS r_kind, random() AS r_free,
                                       random() AS r_reply, random() AS r_assign
                                FROM generate_series(1, %(n)s) AS g
                            ) AS raw
                        ) AS s
                        JOIN merchants_store AS st
                          ON st.code = %(prefix)s || lpad(s.store_index::text, 4, '0')
                    ) AS placed
                ) AS local
            ) AS due
        ) AS t
        """,
    ),
    (
        "sweep (CRC)",
        # An open CRC ticket whose working-hours deadline has passed was escalated by the
        # sweep; leave only the last 10 minutes' overdue ones open, as for the others.
        """
        UPDATE tickets_ticket SET state = 'escalated', escalated_at = due_at, updated_at = due_at
        WHERE state = 'open' AND due_at < %(now)s - interval '10 minutes'
        """,
    ),
    (
        "replies",
        # Replied and closed tickets settled; a share of escalated / judged ones replied
        # "not settled" and escalated at that moment (escalated_at before due_at).
        """
        INSERT INTO tickets_reply
            (ticket_id, option_id, settles, remark, agreed_at, replied_by_id, replied_at)
        SELECT t.id, o.id, o.settles, '',
               CASE WHEN o.settles THEN greatest(t.created_at, r.at - interval '10 minutes') END,
               CASE WHEN t.store_id = %(big_id)s THEN %(owner)s ELSE %(merchant)s END, r.at
        FROM tickets_ticket AS t
        JOIN merchants_store AS s ON s.id = t.store_id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN t.state IN ('escalated', 'judged') THEN t.escalated_at
                        ELSE t.created_at + (least(t.due_at, %(now)s) - t.created_at)
                             * ((t.id %% 90 + 5) / 100.0)::float8 END AS at,
                   CASE WHEN t.state IN ('escalated', 'judged') THEN 'disagrees'
                        ELSE 'settled' END AS code
        ) AS r
        JOIN tickets_replyoption AS o ON o.platform = s.platform AND o.code = r.code
        WHERE t.state IN ('replied', 'closed')
           OR (t.state IN ('escalated', 'judged') AND t.escalated_at < t.due_at)
        """,
    ),
    (
        "judgments",
        """
        INSERT INTO arbitration_judgment
            (ticket_id, merchant_liable, refund_amount, reasoning, judged_by_id, judged_at)
        SELECT id, id %% 5 < 3, CASE WHEN id %% 5 < 3 THEN id %% 300 + 9.90 ELSE 0 END,
               (%(reasonings)s::text[])[1 + id %% 4], %(admin)s,
               escalated_at + interval '6 hours' + (id %% 40) * interval '1 hour'
        FROM tickets_ticket WHERE state = 'judged'
        """,
    ),
    (
        "violations",
        """
        INSERT INTO arbitration_violation
            (store_id, ticket_id, kind, severity, points, note, found_by_id, found_at)
        SELECT t.store_id, t.id, 'forged_evidence',
               CASE WHEN j.id %% 10 = 0 THEN 'serious' ELSE 'general' END,
               CASE WHEN j.id %% 10 = 0 THEN 48 ELSE 12 END,
               '聊天截图经核实为伪造', %(admin)s, j.judged_at
        FROM arbitration_judgment AS j JOIN tickets_ticket AS t ON t.id = j.ticket_id
        WHERE j.merchant_liable AND j.id %% 25 = 0
        """,
    ),
    (
        "appeals",
        # A few hundred waiting appeals of recent liable judgments, 150 of the big store's.
        """
        INSERT INTO arbitration_appeal
            (store_id, ticket_id, judgment_id, state, statement, filed_by_id, filed_at, reasoning)
        SELECT store_id, ticket_id, judgment_id, 'filed',
               '我们已按约定联系消费者并提供了发货凭证，请平台复核。',
               CASE WHEN store_id = %(big_id)s THEN %(owner)s ELSE %(merchant)s END,
               least(judged_at + interval '20 hours', %(now)s), ''
        FROM (
            SELECT t.store_id, t.id AS ticket_id, j.id AS judgment_id, j.judged_at,
                   row_number() OVER (PARTITION BY t.store_id = %(big_id)s
                                      ORDER BY j.judged_at DESC, j.id) AS n,
                   t.store_id = %(big_id)s AS big
            FROM arbitration_judgment AS j JOIN tickets_ticket AS t ON t.id = j.ticket_id
            WHERE j.merchant_liable
        ) AS recent
        WHERE (big AND n <= 150) OR (NOT big AND n <= 250)
        """,
    ),
    (
        "penalty ledger",
        # JD: every timed-out ticket (escalated at its deadline) is an entry, the n-th of
        # the store's month under the rule with the highest threshold ≤ n.
        """
        INSERT INTO arbitration_penaltyentry
            (store_id, ticket_id, rule_id, action, points, amount, occurred_at, month, ordinal)
        SELECT x.store_id, x.id, r.id, r.action, r.points, r.amount, x.escalated_at,
               x.month, x.ordinal
        FROM (
            SELECT t.id, t.store_id, t.escalated_at,
                   date_trunc('month', t.escalated_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
                   row_number() OVER (
                       PARTITION BY t.store_id,
                                    date_trunc('month', t.escalated_at AT TIME ZONE 'Asia/Shanghai')
                       ORDER BY t.escalated_at, t.id) AS ordinal
            FROM tickets_ticket AS t JOIN merchants_store AS s ON s.id = t.store_id
            WHERE s.platform = 'jd' AND t.escalated_at = t.due_at
        ) AS x
        CROSS JOIN LATERAL (
            SELECT id, action, points, amount FROM arbitration_penaltyrule
            WHERE platform = 'jd' AND is_active AND from_count <= x.ordinal
            ORDER BY from_count DESC LIMIT 1
        ) AS r
        """,
    ),
    (
        "day reports",
        # The nightly batch's rows for every store and each of the last 90 days (figures
        # of the store's size; the pages only read them).
        """
        INSERT INTO arbitration_storedayreport
            (store_id, day, received, replied_in_time, replied_late, timed_out, escalated,
             judged_liable, judged_not_liable, compensated, median_reply_seconds,
             p90_reply_seconds, violation_points, fines, liable_30d, paid_orders_30d,
             dispute_rate, computed_at)
        SELECT s.id, %(today)s::date - k, v.received, v.received * 8 / 10, 0,
               v.received / 20, v.received * 3 / 100, v.received / 20, v.received / 30, 0,
               1800 + (s.id * 37 + k * 101) %% 7200, 7200 + (s.id * 37 + k * 101) %% 28800,
               0, 0, v.received * 30 / 20, v.received * 30 * 40,
               round(100.0 / 800, 4), %(now)s - (k - 1) * interval '1 day'
        FROM merchants_store AS s
        CROSS JOIN generate_series(1, 90) AS k
        CROSS JOIN LATERAL (
            SELECT 1 + (CASE WHEN s.code = %(big_code)s THEN %(big)s
                             ELSE (%(n)s - %(big)s) / (%(stores)s - 1) END) / 90
                   + (s.id + k) %% 5 AS received
        ) AS v
        """,
    ),
    (
        "notifications",
        # One in ten of the big store's tickets and one in a hundred of the others left a
        # notification, to the assignee when there is one (else the whole store).
        """
        INSERT INTO tickets_notification
            (store_id, ticket_id, recipient_id, kind, title, body, created_at)
        SELECT t.store_id, t.id, t.assignee_id, n.kind, n.title || t.number, '',
               least(n.at, %(now)s)
        FROM tickets_ticket AS t
        CROSS JOIN LATERAL (
            SELECT CASE t.state WHEN 'escalated' THEN 'escalated' WHEN 'judged' THEN 'judged'
                                WHEN 'closed' THEN 'confirmed' ELSE 'reminder' END AS kind,
                   CASE t.state WHEN 'escalated' THEN '工单已升级平台介入：'
                                WHEN 'judged' THEN '平台已判责：'
                                WHEN 'closed' THEN '回单已确认：'
                                ELSE '工单即将超时：' END AS title,
                   CASE t.state WHEN 'escalated' THEN t.escalated_at
                                WHEN 'judged' THEN t.escalated_at + interval '1 day'
                                WHEN 'closed' THEN t.updated_at
                                ELSE t.due_at - interval '2 hours' END AS at
        ) AS n
        WHERE (t.store_id = %(big_id)s AND t.id %% 10 = 0) OR t.id %% 100 = 0
        """,
    ),
    (
        "reminders",
        """
        INSERT INTO tickets_reminder (ticket_id, offset_minutes, fire_at, status, sent_at)
        SELECT t.id, m, f.at, CASE WHEN f.at <= %(now)s THEN 'sent' ELSE 'pending' END,
               CASE WHEN f.at <= %(now)s THEN f.at END
        FROM tickets_ticket AS t
        CROSS JOIN LATERAL unnest(CASE WHEN t.kind = 'crc_high_risk' THEN ARRAY[60]
                                       ELSE ARRAY[720, 120] END) AS m
        CROSS JOIN LATERAL (SELECT t.due_at - m * interval '1 minute' AS at) AS f
        WHERE t.state = 'open'
        """,
    ),
    (
        "contacts",
        # The big store's replies each follow a phone call (the others' are not read).
        """
        INSERT INTO tickets_contactattempt
            (ticket_id, channel, attempted_at, note, counts, logged_by_id, logged_at)
        SELECT r.ticket_id, 'phone', greatest(t.created_at, r.replied_at - interval '15 minutes'),
               '已电话联系消费者', true, r.replied_by_id, r.replied_at
        FROM tickets_reply AS r JOIN tickets_ticket AS t ON t.id = r.ticket_id
        WHERE t.store_id = %(big_id)s
        """,
    ),
    (
        "events",
        # The big store's audit trail (the others' are not read by any page measured).
        """
        INSERT INTO tickets_ticketevent
            (ticket_id, action, from_state, to_state, actor_id, at, reason, payload)
        SELECT id, 'opened', '', 'open', NULL, created_at, '', '{}'::jsonb
        FROM tickets_ticket WHERE store_id = %(big_id)s
        UNION ALL
        SELECT t.id, 'replied', 'open', 'replied', r.replied_by_id, r.replied_at, '', '{}'
        FROM tickets_reply AS r JOIN tickets_ticket AS t ON t.id = r.ticket_id
        WHERE t.store_id = %(big_id)s
        UNION ALL
        SELECT id, 'confirmed', 'replied', 'closed', NULL, updated_at, '', '{}'
        FROM tickets_ticket WHERE store_id = %(big_id)s AND state = 'closed'
        UNION ALL
        SELECT id, 'escalated', CASE WHEN escalated_at < due_at THEN 'replied' ELSE 'open' END,
               'escalated', NULL, escalated_at, '',
               jsonb_build_object('waived_evidence', escalated_at = due_at)
        FROM tickets_ticket WHERE store_id = %(big_id)s AND escalated_at IS NOT NULL
        UNION ALL
        SELECT t.id, 'judged', 'escalated', 'judged', j.judged_by_id, j.judged_at, j.reasoning,
               jsonb_build_object('merchant_liable', j.merchant_liable,
                                  'refund_amount', j.refund_amount::text)
        FROM arbitration_judgment AS j JOIN tickets_ticket AS t ON t.id = j.ticket_id
        WHERE t.store_id = %(big_id)s
        UNION ALL
        SELECT a.ticket_id, 'appeal_filed', '', '', a.filed_by_id, a.filed_at, a.statement, '{}'
        FROM arbitration_appeal AS a WHERE a.store_id = %(big_id)s
        """,
    ),
]
