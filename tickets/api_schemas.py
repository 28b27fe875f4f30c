"""The API's shapes, shared by the intake (tickets/api.py) and the CS actions
(tickets/api_actions.py): what goes out, and the checks every text field passes."""

from datetime import UTC, datetime
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Schema, Status
from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

from .models import (
    Category,
    Evidence,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
    event_public_id,
)

NON_FIELD = "__all__"


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refused here, not a 500 at the INSERT.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", _("Text must not contain NUL characters."))
    return value


NoNul = AfterValidator(_no_nul)


class TicketOut(Schema):
    id: int
    number: str
    store_code: str
    state: TicketState
    kind: TicketKind
    category: Category
    worry_free: bool
    created_at: datetime = Field(description="ISO-8601, Asia/Shanghai offset.")
    due_at: datetime = Field(description="ISO-8601, Asia/Shanghai offset.")

    @staticmethod
    def resolve_store_code(obj: Ticket) -> str:
        return obj.store.code

    # Stored in UTC; shown in Asia/Shanghai (SPEC.md), as the platform's own staff read it.
    @staticmethod
    def resolve_created_at(obj: Ticket) -> datetime:
        return timezone.localtime(obj.created_at)

    @staticmethod
    def resolve_due_at(obj: Ticket) -> datetime:
        return timezone.localtime(obj.due_at)


class ErrorsOut(Schema):
    errors: dict[str, list[str]] = Field(
        description='Messages by request field; "__all__" for the request as a whole.'
    )


class DetailOut(Schema):
    detail: str


def errors_status(status: int, errors: dict[str, list[str]]) -> Status:
    return Status(status, {"errors": errors})


def ticket_not_found() -> Status:
    return Status(404, {"detail": _("No ticket has this number.")})


# A service refusal without a field, by code -> the request field it is about.
REFUSAL_CODE_FIELDS = {
    "store_ineligible": "store_code",
    "crc_not_jd": "kind",
    "number_conflict": "number",
    "kind": "kind",
    "category": "category",
}
# A service's field -> the API's name for it.
REFUSAL_FIELD_NAMES = {"note": "text"}
# Refusals about the ticket's state, or a number that is another store's, rather than
# about the input: 409, not 400.
CONFLICT_CODES = frozenset({"number_conflict", "wrong_state", "not_due", "needs_cs", "not_settled"})


def service_refusal(exc: DjangoValidationError) -> Status:
    """A service's ValidationError as the API's field-keyed 400, or 409 for a conflict.
    One mapping for the intake and the CS actions."""
    by_field = exc.error_dict.items() if hasattr(exc, "error_dict") else [(None, exc.error_list)]
    errors: dict[str, list[str]] = {}
    status = 400
    for field, field_errors in by_field:
        for error in field_errors:
            if field is None:
                name = REFUSAL_CODE_FIELDS.get(error.code, NON_FIELD)
            else:
                name = REFUSAL_FIELD_NAMES.get(field, field)
            errors.setdefault(name, []).extend(error.messages)
            if error.code in CONFLICT_CODES:
                status = 409
    return errors_status(status, errors)


# --- the CS actions --------------------------------------------------------------------

ActionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), NoNul]


class ObjectionIn(Schema):
    reason: ActionText = Field(description="Why the consumer objects to the store's reply.")


class NoteIn(Schema):
    text: ActionText = Field(description="The note, as CS writes it on the ticket's timeline.")


class TimelineEventOut(Schema):
    id: str = Field(description='"evt_" and the event\'s number, e.g. evt_123.')
    action: str = Field(description="The event's code, e.g. replied, escalated, staff_note.")
    label: str = Field(description="The event's name in the request's language.")
    at: datetime = Field(description="ISO-8601 in UTC.")
    actor: str | None = Field(description="Who acted (username); null when the system did.")
    from_state: TicketState | None
    to_state: TicketState | None
    reason: str
    payload: dict

    @staticmethod
    def resolve_id(obj: TicketEvent) -> str:
        return event_public_id(obj.pk)

    @staticmethod
    def resolve_label(obj: TicketEvent) -> str:
        return str(obj.get_action_display())

    @staticmethod
    def resolve_at(obj: TicketEvent) -> datetime:
        return obj.at.astimezone(UTC)

    @staticmethod
    def resolve_actor(obj: TicketEvent) -> str | None:
        return obj.actor.get_username() if obj.actor_id is not None else None

    @staticmethod
    def resolve_from_state(obj: TicketEvent) -> str | None:
        return obj.from_state or None

    @staticmethod
    def resolve_to_state(obj: TicketEvent) -> str | None:
        return obj.to_state or None


class TimelineOut(Schema):
    number: str
    state: TicketState
    events: list[TimelineEventOut] = Field(description="Oldest first.")


class EvidenceOut(Schema):
    id: int
    ticket_number: str
    original_name: str
    content_type: str = Field(description="As found from the file's content, not its name.")
    size: int
    sha256: str
    uploaded_at: datetime = Field(description="ISO-8601 in UTC.")
    uploaded_by: str
    from_platform: bool

    @staticmethod
    def resolve_uploaded_at(obj: Evidence) -> datetime:
        return obj.uploaded_at.astimezone(UTC)

    @staticmethod
    def resolve_ticket_number(obj: Evidence) -> str:
        return obj.ticket.number

    @staticmethod
    def resolve_uploaded_by(obj: Evidence) -> str:
        return obj.uploaded_by.get_username()
