"""Benchmark the deadline sweep on PostgreSQL: `make bench` (see README, Performance).

Seeds N open tickets past due (and N due reminders) into a scratch database,
then times, on the same data shape in the same run:
  - our sweep (set-based batches, every FSM rule and audit event intact);
  - the naive loop general help desks use (load, transition, save, event, per ticket);
  - the ceiling: one bare SQL UPDATE … RETURNING feeding an INSERT of the events.
"""

import resource
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from merchants.models import Store
from tickets.models import Policy, Ticket, TicketEvent, TicketState
from tickets.services.sweeps import sweep_escalations, sweep_reminders

from .bench_pages import require_scratch_postgres

TABLES = [
    "tickets_delivery",
    "tickets_notification",
    "tickets_reminder",
    "tickets_ticketevent",
    "tickets_ticket",
]


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting():
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Benchmark escalation and reminder sweeps against the naive loop and bare SQL."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=100_000)
        parser.add_argument("--batch-size", type=int, default=settings.SWEEP_BATCH_SIZE)
        parser.add_argument("--naive-sample", type=int, default=2_000)
        parser.add_argument("--stores", type=int, default=200)

    def handle(self, *args, tickets, batch_size, naive_sample, stores, **options):
        require_scratch_postgres()
        self.now = timezone.now()
        self.store_ids = self._stores(stores)
        self.policy = Policy.objects.get(platform="taobao", kind="normal")
        out = self.stdout.write
        out(f"PostgreSQL {connection.pg_version // 10000}, N={tickets:,}, batch={batch_size:,}")

        # Ours: escalation.
        self._seed(tickets, overdue=True)
        wal_start = self._wal_position()
        with counting() as queries:
            start = time.perf_counter()
            escalated, batches = sweep_escalations(now=self.now, batch_size=batch_size)
            ours = time.perf_counter() - start
        wal_bytes = self._wal_bytes_since(wal_start)
        assert escalated == tickets, (escalated, tickets)
        assert TicketEvent.objects.filter(action="escalated").count() == tickets
        ours_rate = tickets / ours
        per_batch = queries.count / max(batches, 1)
        out(f"sweep escalations : {ours_rate:>10,.0f} tickets/s  ({ours:.2f} s, {batches} batches)")
        out(f"queries per batch : {per_batch:>10.1f}  (incl. savepoints; fixed, not per ticket)")
        # What each escalation writes (the row, its event and every index entry): unlike
        # the rate, it does not move with what else the machine is doing.
        out(f"WAL per escalation: {wal_bytes / tickets:>10,.0f} bytes")

        # Ours: reminders.
        self._seed(tickets, overdue=False)
        with counting() as queries:
            start = time.perf_counter()
            reminded, batches = sweep_reminders(now=self.now, batch_size=batch_size)
            took = time.perf_counter() - start
        assert reminded == tickets, (reminded, tickets)
        rate = tickets / took
        out(f"sweep reminders   : {rate:>10,.0f} reminders/s ({took:.2f} s, {batches} batches)")
        out(f"queries per batch : {queries.count / max(batches, 1):>10.1f}")

        # Naive: one ticket at a time, on a sample (it is slow).
        sample = min(naive_sample, tickets)
        self._seed(sample, overdue=True)
        start = time.perf_counter()
        for pk in Ticket.objects.filter(state=TicketState.OPEN).values_list("pk", flat=True):
            with transaction.atomic():
                ticket = Ticket.objects.select_for_update().get(pk=pk)
                ticket.escalate()
                ticket.save()
                TicketEvent.objects.create(
                    ticket=ticket,
                    action="escalated",
                    from_state="open",
                    to_state="escalated",
                    at=self.now,
                    payload={"waived_evidence": True},
                )
        naive_rate = sample / (time.perf_counter() - start)
        out(f"naive loop        : {naive_rate:>10,.0f} tickets/s  (sample of {sample:,})")

        # Ceiling: bare SQL, no ORM, no notifications, no reminders.
        self._seed(tickets, overdue=True)
        start = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                WITH moved AS (
                    UPDATE tickets_ticket SET state = 'escalated', escalated_at = %(now)s
                    WHERE state = 'open' AND due_at <= %(now)s
                    RETURNING id, due_at
                )
                INSERT INTO tickets_ticketevent
                    (ticket_id, action, from_state, to_state, actor_id, at, reason, payload)
                SELECT id, 'escalated', 'open', 'escalated', NULL, %(now)s, '',
                       jsonb_build_object('waived_evidence', true, 'due_at', due_at)
                FROM moved
                """,
                {"now": self.now},
            )
        ceiling_rate = tickets / (time.perf_counter() - start)
        out(f"bare SQL ceiling  : {ceiling_rate:>10,.0f} tickets/s")
        out(f"ours / ceiling    : {ours_rate / ceiling_rate:>10.2f}")
        out(f"ours / naive      : {ours_rate / naive_rate:>10.1f}x")
        out(f"peak memory (RSS) : {peak_rss_mib():>10.0f} MiB")
        self._truncate()

    def _wal_position(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")  # full-page images start afresh for every run
            cursor.execute("SELECT pg_current_wal_insert_lsn()")
            return cursor.fetchone()[0]

    def _wal_bytes_since(self, position: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [position])
            return int(cursor.fetchone()[0])

    def _stores(self, count: int) -> list[int]:
        existing = list(
            Store.objects.filter(code__startswith="BENCH-").values_list("pk", flat=True)
        )
        if len(existing) >= count:
            return existing[:count]
        Store.objects.bulk_create(
            Store(platform="taobao", name=f"Bench {i}", code=f"BENCH-{i}")
            for i in range(len(existing), count)
        )
        return list(Store.objects.filter(code__startswith="BENCH-").values_list("pk", flat=True))

    def _truncate(self):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")

    def _seed(self, count: int, *, overdue: bool):
        """``count`` open tickets, past due (overdue) or due in an hour with a due reminder."""
        self._truncate()
        due = self.now - timedelta(minutes=5) if overdue else self.now + timedelta(hours=1)
        created = due - timedelta(hours=24)
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tickets_ticket
                    (number, store_id, policy_id, order_number, kind, worry_free, category,
                     summary, consumer_name, consumer_phone, created_at, due_at, state,
                     priority, escalated_at, updated_at)
                SELECT 'BENCH-' || g, (%(stores)s::bigint[])[1 + g %% %(n_stores)s],
                       %(policy)s, 'O' || g, 'normal', false, 'other', 'bench', '', '',
                       %(created)s, %(due)s + g * interval '1 millisecond', 'open', 0, NULL,
                       %(created)s
                FROM generate_series(1, %(count)s) AS g
                """,
                {
                    "stores": self.store_ids,
                    "n_stores": len(self.store_ids),
                    "policy": self.policy.pk,
                    "created": created,
                    "due": due,
                    "count": count,
                },
            )
            # Overdue tickets had their reminder sent before the deadline (as in life);
            # the others have one due now.
            cursor.execute(
                """
                INSERT INTO tickets_reminder (ticket_id, offset_minutes, fire_at, status, sent_at)
                SELECT id, 120, due_at - interval '2 hours', %(status)s, %(sent_at)s
                FROM tickets_ticket
                """,
                {
                    "status": "sent" if overdue else "pending",
                    "sent_at": due - timedelta(hours=2) if overdue else None,
                },
            )
            cursor.execute("ANALYZE tickets_ticket; ANALYZE tickets_reminder")
