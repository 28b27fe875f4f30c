"""The CS system's actions on a ticket by its platform number: confirm, object, note,
evidence, and the ticket's timeline. Mounted on the intake API (tickets/api.py).

Thin callers of the services the admin uses, with the same rules and refusals; every
POST needs an ``Idempotency-Key`` (the rules: tickets/idempotency.py). Answers:

- 400 bad input, keyed by field (the body's, or ``Idempotency-Key``);
- 401 no or a bad token; 403 the token's user lacks the permission the service asks
  (tickets.confirm_ticket, tickets.escalate_ticket, tickets.change_ticket for notes,
  tickets.add_evidence);
- 404 no ticket has this number; 409 the ticket's state does not allow the action;
- 422 the Idempotency-Key was used before for a different request.

A refusal writes nothing: the service raises before it writes, or its transaction
(the key's too) rolls back.
"""

from collections.abc import Callable
from typing import Annotated

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import File, Header, Router, Schema, Status, UploadedFile

from .api_schemas import (
    DetailOut,
    ErrorsOut,
    EvidenceOut,
    NoteIn,
    ObjectionIn,
    TicketOut,
    TimelineEventOut,
    TimelineOut,
    errors_status,
    service_refusal,
    ticket_not_found,
)
from .idempotency import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    REPLAYED_HEADER,
    IdempotencyKeyReused,
    idempotent_call,
    request_fingerprint,
)
from .models import Ticket, TicketEvent
from .selectors import ticket_by_number
from .services.evidence import evidence_upload_platform
from .services.lifecycle import ticket_confirm, ticket_object
from .services.team import ticket_staff_note

router = Router(tags=["CS actions"])

_KEY_HEADER = {
    "alias": IDEMPOTENCY_HEADER,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
    "description": (
        "1–100 visible ASCII characters, new for each new request (a UUID will do). "
        "The same key and request again get the first answer back, with "
        f"{REPLAYED_HEADER}: true; the key with another request gets 422."
    ),
}
IdempotencyKey = Annotated[str, Header(**_KEY_HEADER)]
# The intake's: optional, for the clients that predate the keys.
OptionalIdempotencyKey = Annotated[str | None, Header(None, **_KEY_HEADER)]


def replayed_header(*statuses: int) -> dict:
    """``openapi_extra`` declaring the replay header on the answers a key can replay."""
    header = {
        REPLAYED_HEADER: {
            "description": "Present, with the value true, when this is the stored answer "
            "to an earlier request with the same Idempotency-Key.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    }
    return {"responses": {status: {"headers": header} for status in statuses}}


def _responses(success) -> dict:
    return {
        200: success,
        400: ErrorsOut,
        401: DetailOut,
        403: DetailOut,
        404: DetailOut,
        409: ErrorsOut,
        413: DetailOut,
        422: ErrorsOut,
        429: DetailOut,
    }


def idempotent_response(
    request: HttpRequest, key: str, action: Callable[[], tuple[int, dict]]
) -> HttpResponse | Status:
    """Run the action under the request's Idempotency-Key (tickets/idempotency.py) and
    answer with its JSON; the service's refusals as 400/403/409, a reused key as 422."""
    try:
        answer = idempotent_call(
            user=request.auth.user,
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=request_fingerprint(request),
            action=action,
        )
    except IdempotencyKeyReused as exc:
        return errors_status(422, {IDEMPOTENCY_HEADER: [str(exc)]})
    except PermissionDenied as exc:
        return Status(403, {"detail": str(exc) or _("You are not allowed to do this.")})
    except DjangoValidationError as exc:
        return service_refusal(exc)
    # The body is JSON already (stored as such, or dumped by its schema): not validated again.
    response = JsonResponse(
        answer.body, status=answer.status, content_type="application/json; charset=utf-8"
    )
    if answer.replayed:
        response[REPLAYED_HEADER] = "true"
    return response


def _ticket_action(
    request: HttpRequest, number: str, key: str, out: type[Schema], act: Callable[[Ticket], object]
) -> HttpResponse | Status:
    """``act(ticket)`` on the ticket with this platform number, under the request's
    Idempotency-Key, answered 200 with its result as ``out``; 404 for an unknown number.
    What every CS action POST does; each view names only its service call."""
    ticket = ticket_by_number(number=number)
    if ticket is None:
        return ticket_not_found()

    def action() -> tuple[int, dict]:
        return 200, out.from_orm(act(ticket)).model_dump(mode="json")

    return idempotent_response(request, key, action)


@router.post(
    "/tickets/{number}/confirm",
    response=_responses(TicketOut),
    openapi_extra=replayed_header(200),
    operation_id="ticket_confirm",
    summary="Confirm a settled reply and close the ticket",
    description="CS confirms the store's reply (replied → closed). 409 unless replied.",
)
def ticket_confirm_view(request: HttpRequest, number: str, idempotency_key: IdempotencyKey):
    return _ticket_action(
        request,
        number,
        idempotency_key,
        TicketOut,
        lambda ticket: ticket_confirm(ticket=ticket, user=request.auth.user),
    )


@router.post(
    "/tickets/{number}/object",
    response=_responses(TicketOut),
    openapi_extra=replayed_header(200),
    operation_id="ticket_object",
    summary="The consumer objects to the reply: escalate the ticket",
    description=(
        "CS escalates a replied ticket to platform intervention with the consumer's "
        "objection as the reason (replied → escalated); the store is told. 409 unless replied."
    ),
)
def ticket_object_view(
    request: HttpRequest, number: str, payload: ObjectionIn, idempotency_key: IdempotencyKey
):
    return _ticket_action(
        request,
        number,
        idempotency_key,
        TicketOut,
        lambda ticket: ticket_object(ticket=ticket, user=request.auth.user, reason=payload.reason),
    )


@router.post(
    "/tickets/{number}/notes",
    response=_responses(TimelineEventOut),
    openapi_extra=replayed_header(200),
    operation_id="ticket_note",
    summary="Add a CS note to the ticket's timeline",
    description="A staff note (at most 2,000 characters), on a ticket in any state.",
)
def ticket_note_view(
    request: HttpRequest, number: str, payload: NoteIn, idempotency_key: IdempotencyKey
):
    return _ticket_action(
        request,
        number,
        idempotency_key,
        TimelineEventOut,
        lambda ticket: ticket_staff_note(ticket=ticket, user=request.auth.user, note=payload.text),
    )


@router.post(
    "/tickets/{number}/evidence",
    response=_responses(EvidenceOut),
    openapi_extra=replayed_header(200),
    operation_id="ticket_evidence_add",
    summary="Attach the platform's own evidence file to the ticket",
    description=(
        "multipart/form-data with one file under `file`: an image, PDF, audio recording, "
        "or plain text or CSV, checked by its content, within the evidence size limit. "
        "Kept as the platform's evidence, apart from the store's. 409 on a closed or "
        "judged ticket."
    ),
)
def ticket_evidence_view(
    request: HttpRequest,
    number: str,
    idempotency_key: IdempotencyKey,
    file: UploadedFile = File(...),  # noqa: B008 - ninja's way of declaring a file part
):
    return _ticket_action(
        request,
        number,
        idempotency_key,
        EvidenceOut,
        lambda ticket: evidence_upload_platform(ticket=ticket, user=request.auth.user, upload=file),
    )


@router.get(
    "/tickets/{number}/timeline",
    response={200: TimelineOut, 401: DetailOut, 404: DetailOut, 429: DetailOut},
    operation_id="ticket_timeline",
    summary="The ticket's events, oldest first",
    description="Every event on the ticket (transitions, notes, files, reminders), in order.",
)
def ticket_timeline_view(request: HttpRequest, number: str):
    # Two queries, however many events: the ticket, then its events with their actors.
    ticket = ticket_by_number(
        number=number,
        queryset=Ticket.objects.prefetch_related(
            Prefetch(
                "events",
                queryset=TicketEvent.objects.select_related("actor").order_by("at", "pk"),
                to_attr="timeline",
            )
        ),
    )
    if ticket is None:
        return ticket_not_found()
    return {"number": ticket.number, "state": ticket.state, "events": ticket.timeline}
