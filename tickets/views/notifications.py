"""The bell in the top bar and the notification list behind it."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from ..dashboard_selectors import (
    NOTIFICATIONS_PAGE_SIZE,
    notification_is_unread,
    notifications_for_member,
    notifications_unread_count,
)
from ..services.notifications import notifications_mark_seen
from .common import store_required


@store_required
def bell(request):
    """Just the bell, for its 30-second htmx refresh."""
    count = notifications_unread_count(membership=request.membership)
    return render(request, "tickets/_bell.html", {"unread_count": count})


@store_required
def notification_list(request):
    """The member's notifications, newest first; opening the list reads them all.

    Which rows were unread is decided from the member's previous visit before the
    visit is recorded, so this page still highlights what is new.
    """
    now = timezone.now()
    seen_at = request.membership.notifications_seen_at
    queryset = notifications_for_member(membership=request.membership)
    page = Paginator(queryset, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        (notification, notification_is_unread(notification=notification, seen_at=seen_at))
        for notification in page.object_list
    ]
    # ``now`` was taken before the list was read: a notification written meanwhile
    # stays unread for the next visit instead of being marked seen unshown.
    notifications_mark_seen(membership=request.membership, now=now)
    return render(
        request,
        "tickets/notifications.html",
        {
            "page": page,
            "rows": rows,
            "new_count": sum(unread for _, unread in rows),
            # Everything up to now has just been read: the bell needs no query.
            "unread_count": 0,
        },
    )
