"""One event's JSON, for the feed and the webhooks alike (one serialiser, one contract).

The ticket is shown as the intake API shows it (tickets.api.TicketOut), plus its
platform; it is the ticket as it is now, while ``data.to_state`` is the state the
event left it in.
"""

import json
from datetime import UTC, datetime
from typing import Any

from ninja import Field, Schema
from ninja.responses import NinjaJSONEncoder

from merchants.models import Platform
from tickets.api_schemas import TicketOut, TimelineEventOut
from tickets.models import Ticket, TicketEvent, TicketState, event_public_id

from .events import event_type


class EventTicketOut(TicketOut):
    platform: Platform

    @staticmethod
    def resolve_platform(obj: Ticket) -> str:
        return obj.store.platform


class EventDataOut(Schema):
    action: str = Field(description="The ticket event's own action, e.g. exemption_granted.")
    # null when unchanged, as in the timeline (GET /api/v1/tickets/{number}/timeline)
    from_state: TicketState | None = Field(description="The state before; null if none.")
    to_state: TicketState | None = Field(description="The state after; null if unchanged.")
    reason: str
    payload: dict[str, Any] = Field(description="Details by action (ids, outcome, amounts…).")
    actor: str | None = Field(description="The acting user's username; null for the system.")


class EventOut(Schema):
    id: str = Field(description='"evt_" and the event\'s number, e.g. evt_123.')
    type: str = Field(description="The public event type (see the catalogue).")
    occurred_at: datetime = Field(description="ISO-8601 in UTC.")
    ticket: EventTicketOut
    data: EventDataOut

    @staticmethod
    def resolve_id(obj: TicketEvent) -> str:
        return event_public_id(obj.pk)

    @staticmethod
    def resolve_type(obj: TicketEvent) -> str:
        return event_type(obj.action)

    @staticmethod
    def resolve_occurred_at(obj: TicketEvent) -> datetime:
        return obj.at.astimezone(UTC)

    @staticmethod
    def resolve_data(obj: TicketEvent) -> dict:
        # The states and the actor as the timeline shows them (one rule for both).
        return {
            "action": obj.action,
            "from_state": TimelineEventOut.resolve_from_state(obj),
            "to_state": TimelineEventOut.resolve_to_state(obj),
            "reason": obj.reason,
            "payload": obj.payload or {},
            "actor": TimelineEventOut.resolve_actor(obj),
        }


def event_json(event: TicketEvent) -> bytes:
    """The webhook body: the feed's JSON for the event, encoded as the API encodes it.
    Expects ``event`` loaded with integration.feed.EVENT_RELATED."""
    data = EventOut.from_orm(event).model_dump()
    return json.dumps(data, cls=NinjaJSONEncoder, ensure_ascii=False).encode()
