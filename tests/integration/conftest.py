"""Receivers over 127.0.0.1 and events written the way the services write them."""

import json
import time
from datetime import UTC, datetime

import pytest
from django.db import transaction

from integration.feed import feed_horizon
from integration.models import Subscriber
from integration.services import subscriber_add
from loadtest.receiver import HttpReceiver
from tests.factories import StoreFactory
from tickets.models import TicketEvent
from tickets.services.common import ticket_event_write
from tickets.services.intake import ticket_open

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class Receiver(HttpReceiver):
    """A webhook subscriber: answers with the next scripted status (then ``default``),
    no body; ``statuses`` and ``delay`` may be changed while it runs."""

    def __init__(self, default: int = 204):
        self.statuses: list[int] = []
        self.default = default
        super().__init__(self._next, path="/hook")

    def _next(self, _request) -> tuple[int, bytes]:
        with self.lock:
            return (self.statuses.pop(0) if self.statuses else self.default), b""

    @property
    def events(self) -> list[dict]:
        return [json.loads(request.body) for request in self.recorded()]

    @property
    def event_ids(self) -> list[str]:
        return [event["id"] for event in self.events]


@pytest.fixture
def make_receiver():
    receivers = []

    def make(default: int = 204) -> Receiver:
        receivers.append(Receiver(default))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def store():
    return StoreFactory(code="TB-HOOK-1")


def open_ticket(store, number: str):
    ticket, _ = ticket_open(
        store=store, number=number, order_number="O-1", summary="买家催发货", now=NOW
    )
    return ticket


def note(ticket, text: str) -> TicketEvent:
    """A staff note event: one committed transaction, like the service's own."""
    with transaction.atomic():
        return ticket_event_write(
            ticket=ticket, action="staff_note", actor=None, at=NOW, reason=text
        )


def settle(timeout: float = 60) -> None:
    """Wait until every committed event is final (below the feed's horizon).

    Transaction ids are the PostgreSQL cluster's: a transaction open in another database
    (another test run on the same server) holds the horizon back, and the feed waits for
    it, as designed. The tests wait too instead of flaking."""
    last = TicketEvent.objects.order_by("-txid").values_list("txid", flat=True).first()
    deadline = time.monotonic() + timeout
    while last is not None and (horizon := feed_horizon()) is not None and horizon <= last:
        assert time.monotonic() < deadline, f"a transaction older than {last} stays open"
        time.sleep(0.05)


def subscribe(url: str, name: str = "cs", event_types=()) -> Subscriber:
    settle()
    return subscriber_add(Subscriber(name=name, url=url, event_types=list(event_types)), now=NOW)
