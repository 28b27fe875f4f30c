"""The intake API: the platform CS system opens and reads tickets with a bearer token.

A thin caller of tickets.services: it parses and checks the shape of the input,
finds the store, and turns the service's refusals into field-keyed 400/409 answers.
The CS system's actions on a ticket (confirm, object, notes, evidence, timeline) are a
router of their own (tickets/api_actions.py) on this same API; the shapes both use are
in tickets/api_schemas.py, the Idempotency-Key rules in tickets/idempotency.py.
"""

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle
from pydantic import AwareDatetime, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from merchants.models import Store

from .api_actions import OptionalIdempotencyKey, idempotent_response, replayed_header
from .api_actions import router as actions_router
from .api_schemas import (
    NON_FIELD,
    DetailOut,
    ErrorsOut,
    NoNul,
    TicketOut,
    service_refusal,
    ticket_not_found,
)
from .idempotency import IDEMPOTENCY_HEADER
from .models import ApiToken, Category, TicketKind
from .selectors import ticket_by_number
from .services.intake import ticket_open
from .services.tokens import api_token_hash

# The platform's clock and ours may drift a little; beyond this a created_at is a mistake.
CREATED_AT_MAX_SKEW = timedelta(minutes=5)
# Nor can a ticket predate the platforms' collaborative tickets (a year like 0084 also has
# no ISO-8601 offset in Asia/Shanghai time: local mean time was +08:05:43).
CREATED_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class BearerToken(HttpBearer):
    """``Authorization: Bearer <raw key>``; only the key's SHA-256 is stored (ApiToken)."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=api_token_hash(token), is_active=True, user__is_active=True)
            .first()
        )
        if api_token is None or not api_token.user.has_perm("tickets.use_intake_api"):
            return None
        now = timezone.now()
        # Said plainly: the CS system's operators must know to ask ops for a new token.
        if api_token.revoked_at is not None:
            raise AuthenticationError(message=_("This API token has been revoked."))
        if api_token.expires_at is not None and api_token.expires_at <= now:
            raise AuthenticationError(message=_("This API token has expired."))
        # One UPDATE, no model save: no signals, no race with an admin editing the token.
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        return api_token


class TokenBucketThrottle(BaseThrottle):
    """A token bucket per API token (GCRA): ``rate`` requests a second on average, up to
    ``burst`` at once; settings.API_RATE_LIMIT = {"rate": ..., "burst": ...}.

    The bucket is one timestamp in Django's cache (Redis in production, shared by every
    worker): the "theoretical arrival time" of the next request. A read and a write, not
    an atomic script: two workers racing on one token may let a request or two past the
    limit, which is all a rate limit needs. Ninja answers 429 with Retry-After (seconds,
    rounded up) from wait(). Runs after authentication, so request.auth is the ApiToken.
    """

    timer = staticmethod(time.time)
    _local = threading.local()  # wait() has no request; one throttle serves every thread

    def allow_request(self, request: HttpRequest) -> bool:
        limit = settings.API_RATE_LIMIT
        interval = 1.0 / float(limit["rate"])
        burst = int(limit["burst"])
        # The key's hash, not the pk: unique across databases sharing one Redis.
        key = f"api-throttle:{request.auth.key_hash}"
        now = self.timer()
        arrival = max(float(cache.get(key, now)), now) + interval
        allowed_from = arrival - burst * interval
        if now < allowed_from:
            self._local.wait = allowed_from - now
            return False
        # Kept a minute past empty: a spare minute costs nothing; a key gone early costs a refill.
        cache.set(key, arrival, timeout=math.ceil(arrival - now) + 60)
        self._local.wait = None
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


class UnsupportedMediaType(ValueError):
    """The body is not declared as JSON; answered 415 (see _http_errors)."""


class JsonOnlyParser(Parser):
    """JSON bodies only, declared as such: a form or text/plain post is refused (415) rather
    than parsed as JSON on the chance it happens to be some."""

    def parse_body(self, request: HttpRequest):
        if request.content_type != "application/json":
            raise UnsupportedMediaType(request.content_type)
        return super().parse_body(request)


intake_api = NinjaAPI(
    urls_namespace="api-v1",
    title="Xietong intake API",
    version="1",
    description="Open and read collaborative tickets (协同工单) from the platform CS system.",
    auth=BearerToken(),
    throttle=TokenBucketThrottle(),
    parser=JsonOnlyParser(),
)
# Same auth, throttle, parser and error handlers as the intake's own operations.
intake_api.add_router("", actions_router)


Text64 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoNul
]


class TicketIn(Schema):
    number: Text64 = Field(description="The platform's ticket number; the idempotency key.")
    store_code: Text64 = Field(description="The platform's shop id (Store.code).")
    order_number: Text64
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), NoNul]
    kind: TicketKind = TicketKind.NORMAL
    category: Category = Category.OTHER
    worry_free: bool = False
    consumer_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), NoNul] | None
    ) = None
    consumer_phone: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), NoNul] | None
    ) = None
    created_at: AwareDatetime | None = Field(
        default=None,
        description="ISO-8601 with an offset, e.g. 2026-11-24T17:30:00+08:00; default: now.",
    )

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at_is_text(cls, value):
        # Pydantic would also take a number as a Unix time; the contract is ISO-8601 text.
        if value is not None and not isinstance(value, str | datetime):
            raise PydanticCustomError("iso_datetime", "Give an ISO-8601 date and time.")
        return value

    @field_validator("created_at")
    @classmethod
    def _created_at_not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > timezone.now() + CREATED_AT_MAX_SKEW:
            raise PydanticCustomError("future", "The creation time is in the future.")
        if value is not None and value < CREATED_AT_EARLIEST:
            raise PydanticCustomError("too_old", "The creation time is before the year 2000.")
        return value


@intake_api.exception_handler(NinjaValidationError)
def _schema_errors(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    # Ninja answers 422 with pydantic's list; our clients get 400 keyed by field, like the
    # service refusals.
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        # ("body", "<param>", "field", ...) for the JSON body; ("path", "field") otherwise.
        path = loc[2:] if loc[:1] == ["body"] else loc[1:]
        message = error["msg"]
        if loc[:1] == ["body"] and not path and error.get("type") == "missing":
            message = _("Send the ticket as a JSON object.")
        elif loc[:1] == ["header"] and path == [IDEMPOTENCY_HEADER]:
            message = (
                _("Send an Idempotency-Key header: a new key for each new request.")
                if error.get("type") == "missing"
                else _("An Idempotency-Key is 1 to 100 visible ASCII characters, no spaces.")
            )
        errors.setdefault(".".join(path) or NON_FIELD, []).append(message)
    return intake_api.create_response(request, {"errors": errors}, status=400)


@intake_api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django refuses from Content-Length alone, before reading: nothing parsed, nothing written.
    limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
    detail = _("The request body is larger than %(limit)d KB.") % {"limit": limit_kb}
    return intake_api.create_response(request, {"detail": detail}, status=413)


@intake_api.exception_handler(HttpError)
def _http_errors(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, UnsupportedMediaType):
        detail = _("Send the ticket as JSON, with Content-Type: application/json.")
        return intake_api.create_response(request, {"detail": detail}, status=415)
    # A body that isn't JSON is bad input like any other: same 400 shape.
    if exc.status_code == 400:
        return intake_api.create_response(request, {"errors": {NON_FIELD: [str(exc)]}}, status=400)
    detail = str(exc)
    if isinstance(exc, Throttled):
        # Ninja adds Retry-After (whole seconds) to this response.
        detail = _("Too many requests for this API token; retry after Retry-After seconds.")
    response = intake_api.create_response(request, {"detail": detail}, status=exc.status_code)
    if isinstance(exc, AuthenticationError):
        response["WWW-Authenticate"] = "Bearer"
    return response


@intake_api.post(
    "/tickets",
    response={
        200: TicketOut,
        201: TicketOut,
        400: ErrorsOut,
        401: DetailOut,
        409: ErrorsOut,
        413: DetailOut,
        415: DetailOut,
        422: ErrorsOut,
        429: DetailOut,
    },
    operation_id="ticket_open",
    # With a key, a success is stored and replayed; a refusal is not (idempotency.py).
    openapi_extra=replayed_header(200, 201),
    summary="Open a ticket (idempotent on its number)",
    description=(
        "201 when the ticket is opened; 200 with the ticket already opened when the same "
        "number arrives again for the same store; 409 when the number belongs to another store. "
        "An Idempotency-Key is optional here (the number already makes a retry safe); with "
        "one, a retry gets the first answer back and 422 means the key served another request."
    ),
)
def ticket_open_view(
    request: HttpRequest, payload: TicketIn, idempotency_key: OptionalIdempotencyKey = None
):
    def open_ticket() -> tuple[int, dict]:
        store = Store.objects.filter(code=payload.store_code).first()
        if store is None:
            return 400, {"errors": {"store_code": [_("Unknown store code.")]}}
        try:
            ticket, created = ticket_open(
                store=store,
                number=payload.number,
                order_number=payload.order_number,
                summary=payload.summary,
                kind=payload.kind.value,
                category=payload.category.value,
                worry_free=payload.worry_free,
                consumer_name=payload.consumer_name or "",
                consumer_phone=payload.consumer_phone or "",
                actor=request.auth.user,
                now=payload.created_at.astimezone(UTC) if payload.created_at else None,
            )
        except DjangoValidationError as exc:
            refusal = service_refusal(exc)
            return refusal.status_code, refusal.value
        return 201 if created else 200, TicketOut.from_orm(ticket).model_dump(mode="json")

    if idempotency_key is None:
        status, body = open_ticket()
        return intake_api.create_response(request, body, status=status)
    return idempotent_response(request, idempotency_key, open_ticket)


@intake_api.get(
    "/tickets/{number}",
    response={200: TicketOut, 401: DetailOut, 404: DetailOut, 429: DetailOut},
    operation_id="ticket_get",
    summary="Read a ticket by its platform number",
)
def ticket_get_view(request: HttpRequest, number: str):
    ticket = ticket_by_number(number=number)
    if ticket is None:
        return ticket_not_found()
    return ticket
