"""PostgreSQL: every event gets its transaction's id, whichever way it was inserted, and
the feed never hands out a cursor that a later-committing event could land behind."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from integration.feed import START, feed_read, position_of
from tests.factories import StoreFactory, TicketFactory
from tickets.bulk import insert_rows
from tickets.models import TicketEvent
from tickets.services.common import EVENT_FIELDS
from tickets.services.sweeps import sweep_escalations

from .conftest import note, open_ticket, settle

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _current_txid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_service_event_carries_its_transaction_id():
    ticket = TicketFactory()
    with transaction.atomic():
        event = note(ticket, "hello")
        txid = _current_txid()
    assert event.txid == txid  # returned by the INSERT itself
    assert TicketEvent.objects.get(pk=event.pk).txid == txid


@pytest.mark.postgres
@pytest.mark.django_db
def test_sweep_batches_and_bulk_creates_fill_it_too():
    store = StoreFactory()
    TicketFactory.create_batch(3, store=store, created_at=T0)
    with transaction.atomic():
        # The sweep's set-based path: tickets.bulk.insert_rows, unnest arrays.
        sweep_escalations(now=T0 + timedelta(days=2), batch_size=10)
        ticket = TicketFactory(store=store)
        insert_rows(
            TicketEvent, EVENT_FIELDS, [(ticket.pk, "staff_note", "", "", None, T0, "", {})]
        )
        TicketEvent.objects.bulk_create(
            [TicketEvent(ticket=ticket, action="staff_note", at=T0, reason="bulk_create")]
        )
        txid = _current_txid()
    txids = list(TicketEvent.objects.values_list("action", "txid"))
    assert sorted(a for a, _ in txids) == ["escalated"] * 3 + ["staff_note"] * 2
    assert {t for _, t in txids} == {txid}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_older_transaction_committing_late_is_neither_skipped_nor_doubled():
    store = StoreFactory(code="TB-ORDER")
    ticket = open_ticket(store, "CS-ORDER")
    settle()
    handed_out = [feed_read(after=START, limit=500).next]  # every cursor a reader received
    seen = []

    def read():
        # A reader polling one event at a time from the last cursor it got.
        page = feed_read(after=handed_out[-1], limit=1)
        for event in page.events:
            # Never behind (or at) a cursor already handed out.
            assert all(position_of(event) > cursor for cursor in handed_out)
            seen.append(event.pk)
        handed_out.append(page.next)

    wrote, commit = threading.Event(), threading.Event()
    t1_events = []

    def t1():
        try:
            with transaction.atomic():
                t1_events.append(note(ticket, "T1: the older transaction"))
                wrote.set()
                assert commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=t1)
    thread.start()
    assert wrote.wait(30)
    # T2 starts after T1 (a larger transaction id), writes, commits first.
    t2 = note(ticket, "T2: the younger, committed first")
    (t1_event,) = t1_events
    # An id-ordered reader would now return T2's event and move past T1's for good.
    assert t1_event.pk < t2.pk and t1_event.txid < t2.txid

    read()
    read()
    assert seen == []  # T1 is still open: T2 is not final yet either
    assert handed_out[-1] == handed_out[0]

    commit.set()
    thread.join(30)
    settle()
    for _ in range(4):
        read()

    assert seen == [t1_event.pk, t2.pk]  # each exactly once, in commit-order position
