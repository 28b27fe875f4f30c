from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from merchants.models import Store

from .models import Ticket, TicketState
from .selectors import format_remaining, ticket_clock_paused, ticket_remaining, tickets_with_clock

HOME_TICKET_LIMIT = 50


@login_required
def home(request):
    """Placeholder merchant home: the user's stores and their open tickets."""
    now = timezone.now()
    stores = list(
        Store.objects.filter(memberships__user=request.user).annotate(
            open_count=Count("tickets", filter=Q(tickets__state=TicketState.OPEN)),
            overdue_count=Count(
                "tickets", filter=Q(tickets__state=TicketState.OPEN, tickets__due_at__lt=now)
            ),
        )
    )
    tickets = tickets_with_clock(
        Ticket.objects.filter(store__in=[s.pk for s in stores], state=TicketState.OPEN)
    )[:HOME_TICKET_LIMIT]
    rows = [
        {
            "ticket": t,
            "remaining": format_remaining(ticket_remaining(ticket=t, now=now)),
            "paused": ticket_clock_paused(ticket=t, now=now),
            "overdue": t.due_at < now,
        }
        for t in tickets
    ]
    return render(request, "tickets/home.html", {"stores": stores, "tickets": rows})
