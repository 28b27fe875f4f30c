"""GET /api/v1/events: the event stream as a cursor feed, on the intake API (same bearer
tokens, same error shapes; config/urls.py adds this router to tickets.api.intake_api).

A thin caller of integration.feed, which explains why a cursor never skips an event.
"""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from tickets.api import DetailOut, ErrorsOut

from .events import EVENT_TYPES
from .feed import START, BadCursor, cursor_decode, cursor_encode, feed_read
from .schemas import EventOut

FEED_PERMISSION = "integration.read_event_feed"

router = Router(tags=["events"])


class FeedQuery(Schema):
    after: str | None = Field(
        default=None,
        description="A `next` from an earlier answer; omitted: from the start of the stream.",
    )
    limit: int = Field(default=100, ge=1, le=500)
    types: str | None = Field(
        default=None,
        description="Comma-separated event types, e.g. ticket.replied,ticket.closed; "
        "omitted: every type.",
    )


class FeedOut(Schema):
    events: list[EventOut]
    next: str = Field(
        description="The cursor to read on from; equal to `after` when nothing new is final."
    )


@router.get(
    "",
    response={
        200: FeedOut,
        400: ErrorsOut,
        401: DetailOut,
        403: DetailOut,
        429: DetailOut,
    },
    operation_id="events_feed",
    summary="Read the event stream after a cursor",
    description=(
        "Events in commit order, never one behind a cursor already handed out: an event "
        "appears once every transaction older than its own has finished. Poll with `next`. "
        "Needs a token whose user holds the permission integration.read_event_feed."
    ),
)
def events_feed_view(request: HttpRequest, query: Query[FeedQuery]):
    if not request.auth.user.has_perm(FEED_PERMISSION):
        raise HttpError(403, _("This API token may not read the event feed."))
    errors: dict[str, list[str]] = {}
    after = START
    if query.after is not None:
        try:
            after = cursor_decode(query.after)
        except BadCursor:
            errors["after"] = [_("Unknown cursor: pass a `next` from an earlier answer.")]
    types = [kind.strip() for kind in (query.types or "").split(",") if kind.strip()]
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        errors["types"] = [
            _("Unknown event types: %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(EVENT_TYPES)}
        ]
    if errors:
        return Status(400, {"errors": errors})
    page = feed_read(after=after, limit=query.limit, types=types)
    # An unchanged position answers with the very cursor it was given.
    next_cursor = query.after if page.next == after and query.after else cursor_encode(page.next)
    return {"events": page.events, "next": next_cursor}
