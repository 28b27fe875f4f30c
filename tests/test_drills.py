"""`make drills`' counting, cheaply (the drills themselves, which start servers and kill
processes, are never part of the suite): the seed and the tallies on the pytest
database, the receiver's key counting, and the report. No timing is asserted."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from loadtest import drills
from tests.factories import StoreFactory
from tickets.bots import DELIVERY_KEY_HEADER
from tickets.models import Delivery, Reminder, Ticket, TicketEvent

# serialized_rollback: the policies the seed reads are migration data, which another
# transactional test's flush would have removed.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def db_outside():
    """The drills read the database over their own connections, as another process."""
    settings = connection.settings_dict
    return drills.Db(
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )


def test_seed_then_tallies_count_done_doubled_and_lost(db_outside):
    StoreFactory(code=f"{drills.STORE_PREFIX}0000")
    StoreFactory(code=f"{drills.STORE_PREFIX}0001")
    now = datetime.now(UTC)
    drills.seed_tickets(db_outside, prefix="E", count=4, due=now - timedelta(minutes=5))
    drills.seed_tickets(
        db_outside,
        prefix="R",
        count=3,
        due=now + timedelta(hours=1),
        remind_before=timedelta(minutes=61),
    )
    assert Ticket.objects.filter(number__startswith="E", due_at__lt=now).count() == 4
    assert Reminder.objects.filter(status="pending", fire_at__lt=now).count() == 3

    # Nothing done yet: every overdue ticket and due reminder is lost.
    row = drills.escalations(db_outside, "E", 4)
    assert (row.done, row.doubled, row.lost, row.ok) == (0, 0, 4, False)
    assert drills.reminders(db_outside, 3).lost == 3

    # Two escalated, one of them with its event written twice.
    first, second = Ticket.objects.filter(number__startswith="E").order_by("pk")[:2]
    Ticket.objects.filter(pk__in=[first.pk, second.pk]).update(state="escalated")
    for ticket in (first, first, second):
        TicketEvent.objects.create(ticket=ticket, action="escalated", at=now, payload={})
    row = drills.escalations(db_outside, "E", 4)
    assert (row.done, row.doubled, row.lost) == (2, 1, 2)


def test_deliveries_are_counted_by_the_keys_the_receiver_got(db_outside):
    store = StoreFactory()
    now = datetime.now(UTC)
    for key in ("reminder:1:webhook", "reminder:2:webhook", "reminder:3:webhook"):
        Delivery.objects.create(
            key=key, channel="webhook", store=store, subject="s", body="b", status="sent",
            next_attempt_at=now, created_at=now,
        )  # fmt: skip
    receiver = drills.Receiver()
    try:
        for key in ("reminder:1:webhook", "reminder:1:webhook", "reminder:2:webhook"):
            request = urllib.request.Request(
                receiver.url, data=b"{}", method="POST", headers={DELIVERY_KEY_HEADER: key}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert json.loads(response.read()) == {"errcode": 0, "errmsg": "ok"}
        row = drills.deliveries(db_outside, receiver, expected=3)
    finally:
        receiver.close()
    # Received: 1 (twice, with its key both times) and 2; 3 never arrived.
    assert (row.expected, row.done, row.doubled, row.lost, row.resent) == (3, 2, 0, 1, 1)
    assert not row.complete and not row.ok


def test_report_lists_each_drill_with_its_counts_and_notes():
    results = [
        drills.Result(
            "worker-sweep",
            "worker SIGKILLed with 5,000 of 50,000 escalated",
            [drills.Row("overdue tickets escalated", 50_000, 50_000, 0, 0)],
            12.5,
            ["the worker exited 1× (signal 9) and was started again by its supervisor"],
        ),
        drills.Result(
            "redis", "redis-server SIGKILLed", [drills.Row("reminders sent", 10, 9, 0, 1)], None
        ),
    ]
    assert results[0].ok and not results[1].ok
    text = drills.report(results, drills.Config())
    assert "| worker-sweep | worker SIGKILLed with 5,000 of 50,000 escalated |" in text
    assert "| 50,000 | 50,000 | 0 | 0 | 0 | all done 12.5 s after the fault |" in text
    assert "| 10 | 9 | 0 | 1 | 0 | **no** (timed out) |" in text
    assert "- worker-sweep: the worker exited 1× (signal 9)" in text


def test_unknown_drill_names_are_refused_before_anything_starts():
    with pytest.raises(SystemExit, match="Unknown drill"):
        drills.main(["worker-sweep", "typo"])
