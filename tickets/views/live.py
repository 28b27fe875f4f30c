"""Server-Sent Events for the dashboard: the inbox and the ticket page refresh
themselves when one of the store's tickets changes (tickets/live.py)."""

from django.conf import settings
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_GET

from ..live import live_latest_id, live_stream
from .common import store_required


@require_GET
@store_required
def live_events(request):
    last = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    after_id = int(last) if last.isdigit() else live_latest_id()
    response = StreamingHttpResponse(
        live_stream(
            store_id=request.store.pk, after_id=after_id, seconds=settings.LIVE_STREAM_SECONDS
        ),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on at once
    return response
