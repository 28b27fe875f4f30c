"""Benchmark the nightly report on PostgreSQL: `make bench` (see README, Performance).

Seeds N tickets (1,000,000 by default) over 90 days across 2,000 stores, with
replies, escalations, judgments and daily order volumes, into a scratch
database, then times the report of one day and prints peak memory. `--skip-seed`
times the same day again on what an earlier run seeded (10 M take minutes to seed).
"""

import resource
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from arbitration.reports import report_day
from merchants.clock import SHANGHAI
from merchants.models import Store
from tickets.management.commands.bench_pages import require_scratch_postgres
from tickets.models import Policy, ReplyOption, Ticket

DAYS = 90
SEED_PREFIX = "RB-"  # the seeded tickets' numbers
TABLES = [
    "arbitration_storedayreport",
    "arbitration_penaltyentry",
    "arbitration_judgment",
    "tickets_reply",
    "tickets_ticketevent",
    "tickets_reminder",
    "tickets_notification",
    "tickets_ticket",
    "merchants_dailyordervolume",
]


class Command(BaseCommand):
    help = "Seed a large data set and time one day of the nightly report."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=1_000_000)
        parser.add_argument("--stores", type=int, default=2_000)
        parser.add_argument(
            "--skip-seed",
            action="store_true",
            help="time the report on the data an earlier run seeded (10 M take minutes)",
        )

    def handle(self, *args, tickets, stores, skip_seed, **options):
        require_scratch_postgres()
        out = self.stdout.write
        if skip_seed:
            # This benchmark's own rows (RB-…), not another benchmark's in the same database.
            seeded = Ticket.objects.filter(number__startswith=SEED_PREFIX)
            first = seeded.order_by("created_at").values_list("created_at", flat=True).first()
            if first is None:
                raise CommandError("Nothing seeded yet: run once without --skip-seed.")
            first_day = first.astimezone(SHANGHAI).date()
            out(f"reusing {seeded.count():,} tickets seeded from {first_day}")
        else:
            today = timezone.now().astimezone(SHANGHAI).date()
            first_day = today - timedelta(days=DAYS)
            start = time.perf_counter()
            self._seed(tickets=tickets, stores=stores, first_day=first_day)
            out(
                f"seeded {tickets:,} tickets over {DAYS} days, {stores:,} stores "
                f"in {time.perf_counter() - start:.0f} s"
            )
        day = first_day + timedelta(days=DAYS // 2)
        report_day(day=day - timedelta(days=1))  # warm the caches, as a nightly run would be
        start = time.perf_counter()
        rows = report_day(day=day)
        took = time.perf_counter() - start
        out(f"report for one day : {took:.2f} s  ({rows:,} store rows, {day})")
        start = time.perf_counter()
        report_day(day=day)
        out(f"same day again     : {time.perf_counter() - start:.2f} s  (replaces, idempotent)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out(f"peak memory (RSS)  : {peak:.0f} MiB")

    def _seed(self, *, tickets: int, stores: int, first_day):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        existing = Store.objects.filter(code__startswith="RB-").count()
        if existing < stores:
            # One store in ten is a JD POP store, so the penalty ledger has work too.
            Store.objects.bulk_create(
                Store(
                    platform="jd" if i % 10 == 0 else "taobao",
                    name=f"Report bench {i}",
                    code=f"RB-{i}",
                    jd_business_type="pop" if i % 10 == 0 else "",
                    jd_business_line="general" if i % 10 == 0 else "",
                )
                for i in range(existing, stores)
            )
        store_ids = list(
            Store.objects.filter(code__startswith="RB-").order_by("pk").values_list("pk", flat=True)
        )[:stores]
        user, _ = get_user_model().objects.get_or_create(username="bench-reports")
        policy = Policy.objects.get(platform="taobao", kind="normal").pk
        option = ReplyOption.objects.get(platform="taobao", code="settled").pk
        start = timezone.make_aware(
            timezone.datetime.combine(first_day, timezone.datetime.min.time()), SHANGHAI
        )
        with connection.cursor() as cursor:
            # Half replied within a day, three in ten escalated at the deadline, the rest open.
            cursor.execute(
                """
                INSERT INTO tickets_ticket
                    (number, store_id, policy_id, order_number, kind, worry_free, category,
                     summary, consumer_name, consumer_phone, created_at, due_at, state,
                     priority, escalated_at, updated_at, assignee_id)
                SELECT %(prefix)s || g, (%(stores)s::bigint[])[1 + g %% %(n)s], %(policy)s,
                       'O' || g, 'normal', false, 'other', 'bench', '', '',
                       c.at, c.at + interval '24 hours',
                       CASE WHEN g %% 10 < 5 THEN 'replied'
                            WHEN g %% 10 < 8 THEN 'escalated' ELSE 'open' END,
                       0,
                       CASE WHEN g %% 10 BETWEEN 5 AND 7 THEN c.at + interval '24 hours' END,
                       c.at, NULL
                FROM generate_series(1, %(count)s) AS g,
                     LATERAL (SELECT %(start)s::timestamptz
                              + (g::float8 / %(count)s) * interval '%(days)s days' AS at) AS c
                """,
                {
                    "prefix": SEED_PREFIX,
                    "stores": store_ids,
                    "n": len(store_ids),
                    "policy": policy,
                    "count": tickets,
                    "start": start,
                    "days": DAYS,
                },
            )
            cursor.execute(
                """
                INSERT INTO tickets_reply
                    (ticket_id, option_id, settles, remark, agreed_at, replied_by_id, replied_at)
                SELECT id, %s, true, '', NULL, %s,
                       created_at + (id %% 20 + 1) * interval '1 hour'
                FROM tickets_ticket WHERE state = 'replied'
                """,
                [option, user.pk],
            )
            cursor.execute(
                """
                INSERT INTO arbitration_judgment
                    (ticket_id, merchant_liable, refund_amount, reasoning, judged_by_id, judged_at)
                SELECT id, id %% 2 = 0, 10, 'bench', %s, escalated_at + interval '2 days'
                FROM tickets_ticket WHERE state = 'escalated' AND id %% 6 = 0
                """,
                [user.pk],
            )
            cursor.execute(
                """
                INSERT INTO merchants_dailyordervolume (store_id, date, paid_orders, paid_amount)
                SELECT s, %s::date + d, 100 + (s + d) %% 50, 0
                FROM unnest(%s::bigint[]) AS s, generate_series(0, %s) AS d
                """,
                [first_day, store_ids, DAYS],
            )
            cursor.execute("ANALYZE")
