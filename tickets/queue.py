"""The merchant's work queue (reads only): which tickets need the store, in the order
of the time left on each ticket's *own* clock, with tabs, sorting and search.

Time left is working time for a working clock (JD CRC: 09:00–19:00), so a CRC ticket
paused overnight with 4 working hours left does not outrank a ticket with 52 minutes.
SQL cannot order by that directly, but within one clock the order *is* due_at order:
so the open tickets are read as one stream per clock (calendar, and each working
policy), each an index range scan ordered by due_at and limited to the page's end,
and merged here by time left. A fixed number of queries whatever the store's size.
"""

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connections
from django.db.models import Exists, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Right
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext, pgettext_lazy

from merchants.models import Store

from . import sla
from .links import id_url
from .models import Category, Policy, Reply, Ticket, TicketKind, TicketState
from .selectors import TicketClock, ticket_clock

PAGE_SIZE = 25
# 即将超时: less than this left on the ticket's own clock.
SOON = timedelta(hours=2)
# Counting stops here: a tab of a big store's backlog reads "999+", and costs what a
# small store's does (an index range read up to the cap, never the whole history).
COUNT_CAP = 999
# A list's total is counted this many pages past the page asked for, no further: the
# pagination says "page 3 of 13+" instead of counting 300,000 tickets.
PAGES_AHEAD = 10

# The tabs (saved views), in the order the page shows them.
VIEWS = {
    "todo": pgettext_lazy("queue tab", "To do"),
    "soon": pgettext_lazy("queue tab", "Due soon"),
    "overdue": pgettext_lazy("queue tab", "Overdue"),
    "replied": pgettext_lazy("queue tab", "Replied"),
    "escalated": pgettext_lazy("queue tab", "Escalated"),
    "all": pgettext_lazy("queue tab", "All"),
    "mine": pgettext_lazy("queue tab", "Assigned to me"),
}
DEFAULT_VIEW = "todo"
# Tickets that still need the store: it must reply (open), or may still add evidence
# and contacts while the platform decides (escalated, including a consumer's objection).
NEEDS_STORE = (TicketState.OPEN, TicketState.ESCALATED)
ACTIVE = (TicketState.OPEN, TicketState.REPLIED, TicketState.ESCALATED)

SORTS = {
    "left": _("Time left"),
    "created": _("Created (oldest first)"),
    "-created": _("Created (newest first)"),
    "due": _("Due (soonest first)"),
    "-due": _("Due (latest first)"),
}
DEFAULT_SORT = "left"
_ORDER = {
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
    "due": ("due_at", "pk"),
    "-due": ("-due_at", "-pk"),
}
# With "time left", tickets with no running clock follow the open ones, the latest
# deadline first (for escalated ones: the most recently escalated). Ordered by due_at,
# a tab of one state is a backward read of the (store, state, due_at) index.
_REST_ORDER = ("-due_at", "-pk")


class SearchText(Func):
    """The text a search looks in: ticket and order number, the consumer's name, the
    last 4 digits of the phone (never the rest of it) and the summary, upper-cased.

    The PostgreSQL migration builds a pg_trgm GIN index on exactly this expression
    (tickets/migrations/0011_ticket_search_trgm.py), so ``LIKE '%…%'`` on it is an
    index scan; on SQLite it is a plain scan.
    """

    function = "UPPER"
    template = "%(function)s(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(
            "number",
            "order_number",
            "consumer_name",
            Right("consumer_phone", Value(4)),
            "summary",
        )


def search_filter(queryset: QuerySet[Ticket], term: str) -> QuerySet[Ticket]:
    term = term.strip()
    if not term:
        return queryset
    return queryset.alias(search_text=SearchText()).filter(search_text__contains=term.upper())


def platform_policies(*, platform: str) -> list[Policy]:
    """Every policy of the platform, active or not (a ticket keeps the policy it was
    opened under), with the calendar its clock needs: two queries."""
    return list(
        Policy.objects.filter(platform=platform)
        .select_related("calendar")
        .prefetch_related("calendar__exceptions")
        .order_by("pk")
    )


def _soon_filter(*, policies: list[Policy], now: datetime) -> Q:
    """Open, not yet due, and less than SOON left on the ticket's own clock."""
    working = [p for p in policies if p.clock == sla.WORKING]
    soon = Q(due_at__lte=now + SOON) & ~Q(policy__in=[p.pk for p in working])
    for policy in working:
        # The instant at which SOON of working time from now has elapsed.
        limit = sla.compute_due_at(
            created_at=now, window=SOON, clock=sla.WORKING, schedule=policy.schedule()
        )
        soon |= Q(policy=policy.pk, due_at__lte=limit)
    return Q(state=TicketState.OPEN, due_at__gt=now) & soon


def _overdue_open(now: datetime) -> Q:
    return Q(state=TicketState.OPEN, due_at__lte=now)


def _overdue_escalated(now: datetime) -> Q:
    # NOT EXISTS probes the reply index per escalated ticket instead of hashing every
    # reply of the platform.
    return Q(state=TicketState.ESCALATED) & ~Exists(Reply.objects.filter(ticket=OuterRef("pk")))


def _overdue_filter(*, now: datetime) -> Q:
    """已超时: past the deadline with no reply, still open (the sweep has not run yet)
    or escalated because of it."""
    return _overdue_open(now) | _overdue_escalated(now)


def queue_queryset(
    *,
    store: Store,
    user,
    view: str,
    filters: dict,
    created_range: tuple[datetime | None, datetime | None],
    policies: list[Policy],
    now: datetime,
) -> QuerySet[Ticket]:
    """The store's tickets in one tab, with the filters applied (not yet ordered)."""
    queryset = Ticket.objects.filter(store=store)
    if view == "todo":
        queryset = queryset.filter(state__in=NEEDS_STORE)
    elif view == "soon":
        queryset = queryset.filter(_soon_filter(policies=policies, now=now))
    elif view == "overdue":
        # Past the deadline with no reply: still open (the sweep has not run yet), or
        # escalated because of it.
        queryset = queryset.filter(_overdue_filter(now=now))
    elif view == "replied":
        queryset = queryset.filter(state=TicketState.REPLIED)
    elif view == "escalated":
        queryset = queryset.filter(state=TicketState.ESCALATED)
    elif view == "mine":
        queryset = queryset.filter(assignee=user, state__in=ACTIVE)
    if filters.get("state"):
        queryset = queryset.filter(state=filters["state"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("overdue"):
        queryset = queryset.filter(state=TicketState.OPEN, due_at__lt=now)
    if filters.get("mine"):
        queryset = queryset.filter(assignee=user)
    if filters.get("q"):
        queryset = search_filter(queryset, filters["q"])
    start, end = created_range
    if start:
        queryset = queryset.filter(created_at__gte=start)
    if end:
        queryset = queryset.filter(created_at__lt=end)
    return queryset


class RowText(NamedTuple):
    """What a queue row prints besides the ticket's own fields, prepared once per page in
    Python: the template engine's per-row lookups (choice labels, dates, URLs) cost a
    25-row page ~10 ms."""

    kind: str
    category: str
    state: str
    created: str  # "12-03 21:05", local time
    created_iso: str
    due: str
    due_iso: str
    remaining_seconds: int
    detail_url: str
    claim_url: str


class QueueRow(NamedTuple):
    ticket: Ticket
    clock: TicketClock
    badge: "SlaBadge"
    text: RowText


def _row_texts(tickets: list[Ticket], clocks: list[TicketClock]) -> list[RowText]:
    tz = timezone.get_current_timezone()
    kinds, categories = dict(TicketKind.choices), dict(Category.choices)
    states = dict(TicketState.choices)
    # Each label translated once per page, not once per row.
    kinds, categories, states = (
        {value: str(label) for value, label in labels.items()}
        for labels in (kinds, categories, states)
    )
    # One reverse() per page: the ticket's URLs differ only by its pk.
    detail_url, claim_url = id_url("ticket_detail"), id_url("ticket_claim")
    texts = []
    for ticket, clock in zip(tickets, clocks, strict=True):
        created, due = ticket.created_at.astimezone(tz), ticket.due_at.astimezone(tz)
        texts.append(
            RowText(
                kind=kinds.get(ticket.kind, ticket.kind),
                category=categories.get(ticket.category, ticket.category),
                state=states.get(ticket.state, ticket.state),
                created=created.strftime("%m-%d %H:%M"),
                created_iso=created.isoformat(),
                due=due.strftime("%m-%d %H:%M"),
                due_iso=due.isoformat(),
                remaining_seconds=round(clock.remaining.total_seconds()),
                detail_url=detail_url(ticket.pk),
                claim_url=claim_url(ticket.pk),
            )
        )
    return texts


@dataclass
class QueuePage:
    """One page of the queue, shaped like Django's Page for the template."""

    rows: list[QueueRow]
    number: int
    count: int
    page_size: int = PAGE_SIZE
    ids: list[int] = field(default_factory=list)
    # True when counting stopped at PAGES_AHEAD pages past this one: there are more.
    more: bool = False

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.more or self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _time_left_key(*, policies: list[Policy], now: datetime):
    """The sort key of an open ticket by time left on its own clock: (time left, due_at,
    pk). Within one clock, time left follows due_at, so a clock's tickets read in due_at
    order are already in key order."""
    schedules = {p.pk: p.schedule() for p in policies if p.clock == sla.WORKING}

    def key(pk: int, due_at: datetime, policy_id: int | None) -> tuple:
        schedule = schedules.get(policy_id)
        if schedule is None:
            return (due_at - now, due_at, pk)
        left = sla.remaining(now=now, due_at=due_at, clock=sla.WORKING, schedule=schedule)
        return (left, due_at, pk)

    return key


def _open_by_time_left(
    queryset: QuerySet[Ticket], *, policies: list[Policy], start: int, end: int, now: datetime
) -> tuple[list[int], int | None]:
    """The ids of the open tickets ranked [start, end) by time left on their own clock,
    and how many open tickets there are if they ran out before ``end`` (else None).

    With one clock (a platform without working-hours policies) time left is due_at
    order: the database skips to the page (an index read). With several, each clock's
    first ``end`` tickets are read in due_at order and merged here."""
    open_tickets = queryset.filter(state=TicketState.OPEN)
    working = [p for p in policies if p.clock == sla.WORKING]
    if not working:
        ids = list(open_tickets.order_by("due_at", "pk").values_list("pk", flat=True)[start:end])
        if len(ids) == end - start:
            return ids, None
        # Ran out on this page; past the last page of them it takes a count.
        return ids, (start + len(ids) if ids or not start else open_tickets.count())
    streams = [
        (None, open_tickets.exclude(policy__in=[p.pk for p in working])),
        *((p.pk, open_tickets.filter(policy=p.pk)) for p in working),
    ]
    key = _time_left_key(policies=policies, now=now)
    merged = []
    exhausted = True
    for policy_id, stream in streams:
        rows = list(stream.order_by("due_at", "pk").values_list("pk", "due_at")[:end])
        exhausted = exhausted and len(rows) < end
        merged.append([key(pk, due_at, policy_id) for pk, due_at in rows])  # in key order
    ordered = [pk for *_, pk in heapq.merge(*merged)][:end]
    return ordered[start:end], (len(ordered) if exhausted else None)


class _Found(NamedTuple):
    pk: int
    state: str
    at: datetime  # the sort's time: created_at for the "created" sorts, else due_at
    policy_id: int


def _found_time(sort: str) -> str:
    """The one time column a match is read with (a common name's search reads ~300):
    the sort's own, or due_at for "time left"."""
    return _ORDER[sort][0].lstrip("-") if sort in _ORDER else "due_at"


def _in_memory_order(found: list[_Found], *, sort: str, policies: list[Policy], now: datetime):
    """Every match of a search, in the order the SQL path gives a tab (``_ORDER``, or
    open tickets by time left, then the rest by ``_REST_ORDER``)."""
    if sort in _ORDER:
        descending = _ORDER[sort][0].startswith("-")
        return [f.pk for f in sorted(found, key=lambda f: (f.at, f.pk), reverse=descending)]
    key = _time_left_key(policies=policies, now=now)
    open_found = sorted(key(f.pk, f.at, f.policy_id) for f in found if f.state == TicketState.OPEN)
    rest = sorted(
        (f for f in found if f.state != TicketState.OPEN),
        key=lambda f: (f.at, f.pk),
        reverse=True,
    )
    return [pk for *_, pk in open_found] + [f.pk for f in rest]


def queue_page(
    *,
    store: Store,
    user,
    view: str,
    sort: str,
    filters: dict,
    created_range: tuple[datetime | None, datetime | None],
    page_number: int,
    now: datetime,
    page_size: int = PAGE_SIZE,
    policies: list[Policy] | None = None,
) -> QueuePage:
    """One page of a tab. Queries: the platform's policies (2, unless given), the count
    (capped at PAGES_AHEAD pages past this one; a search reads its matches instead, and
    when they are all there orders them itself), one per clock stream (time-left sort) or
    one (other sorts), the rest after the open tickets (with, on a one-clock platform,
    a count of the open ones when the page lies past them all), and the page's
    tickets: a fixed bound, whatever the rows."""
    if policies is None:
        policies = platform_policies(platform=store.platform)
    queryset = queue_queryset(
        store=store,
        user=user,
        view=view,
        filters=filters,
        created_range=created_range,
        policies=policies,
        now=now,
    )
    asked = max(1, page_number)
    limit = (asked + PAGES_AHEAD) * page_size
    found = None
    if filters.get("q"):
        # A search usually matches a few tickets: read them all (up to the count's cap)
        # in one trigram index scan and order them here, instead of one scan for the
        # count and one per ordered read. Past the cap it counted them, as below.
        found = [
            _Found(*row)
            for row in queryset.order_by().values_list(
                "pk", "state", _found_time(sort), "policy_id"
            )[: limit + 1]
        ]
        count = len(found)
    else:
        count = capped_count(queryset, cap=limit + 1)
    more = count > limit
    count = min(count, limit)
    number = min(asked, max(1, -(-count // page_size)))
    start, end = (number - 1) * page_size, number * page_size
    if found is not None and not more:
        ids = _in_memory_order(found, sort=sort, policies=policies, now=now)[start:end]
    elif sort in _ORDER:
        ids = list(queryset.order_by(*_ORDER[sort]).values_list("pk", flat=True)[start:end])
    else:
        ids, open_total = _open_by_time_left(
            queryset, policies=policies, start=start, end=end, now=now
        )
        if open_total is not None and len(ids) < page_size:
            # The page runs past the open tickets: continue with the others.
            skip = max(0, start - open_total)
            rest = queryset.exclude(state=TicketState.OPEN).order_by(*_REST_ORDER)
            ids += list(rest.values_list("pk", flat=True)[skip : skip + page_size - len(ids)])
    # The clocks need each ticket's store and policy (with its calendar): both are
    # already here, so the page's tickets are one query.
    policy_by_id = {policy.pk: policy for policy in policies}
    tickets = Ticket.objects.filter(pk__in=ids).select_related("assignee").order_by()
    by_id = {}
    for ticket in tickets:
        ticket.store = store
        ticket.policy = policy_by_id[ticket.policy_id]
        by_id[ticket.pk] = ticket
    page_tickets = [by_id[pk] for pk in ids if pk in by_id]
    clocks = [ticket_clock(ticket=ticket, now=now) for ticket in page_tickets]
    rows = [
        QueueRow(ticket, clock, sla_badge(clock), text)
        for ticket, clock, text in zip(
            page_tickets, clocks, _row_texts(page_tickets, clocks), strict=True
        )
    ]
    return QueuePage(rows=rows, number=number, count=count, page_size=page_size, ids=ids, more=more)


def capped_count(queryset: QuerySet, *, cap: int) -> int:
    """How many rows, counting no further than ``cap``: one query that reads at most
    ``cap`` index entries (``SELECT COUNT(*) FROM (… LIMIT cap)``)."""
    return queryset.order_by().values("pk")[:cap].count()


def capped_counts(querysets: dict[str, QuerySet], *, cap: int) -> dict[str, int]:
    """``capped_count`` of several querysets of one database, in one query: a scalar
    subquery per queryset, each stopping at ``cap`` rows."""
    parts, params = [], []
    for index, queryset in enumerate(querysets.values()):
        sql, part_params = queryset.order_by().values("pk")[:cap].query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped_{index})")
        params.extend(part_params)
    with connections[Ticket.objects.db].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        return dict(zip(querysets, cursor.fetchone(), strict=True))


def queue_counts(*, store: Store, user, now: datetime, policies: list[Policy]) -> dict[str, int]:
    """How many tickets each tab holds (for the tab labels), each counted up to
    COUNT_CAP + 1 (shown as "999+", see ``count_label``): one query, each count an
    index range read of the store's active tickets that stops at the cap."""
    store_tickets = Ticket.objects.filter(store=store)
    conditions = {
        "todo": Q(state__in=NEEDS_STORE),
        "soon": _soon_filter(policies=policies, now=now),
        # "overdue" in its two parts, each a range read of its own (one OR would be a
        # bitmap scan of both states' heap rows).
        "overdue_open": _overdue_open,
        "overdue_escalated": _overdue_escalated,
        "replied": Q(state=TicketState.REPLIED),
        "escalated": Q(state=TicketState.ESCALATED),
        "mine": Q(assignee=user, state__in=ACTIVE),
    }
    counts = capped_counts(
        {
            name: store_tickets.filter(condition(now) if callable(condition) else condition)
            for name, condition in conditions.items()
        },
        cap=COUNT_CAP + 1,
    )
    counts["overdue"] = min(
        counts.pop("overdue_open") + counts.pop("overdue_escalated"), COUNT_CAP + 1
    )
    return counts


def count_label(count: int) -> str:
    """A tab's count as a merchant reads it: "999+" once it passed COUNT_CAP."""
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


def _hours_minutes(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    text = f"{hours}:{minutes:02d}"
    return (pgettext("duration", "%(days)dd ") % {"days": days} + text) if days else text


class SlaBadge(NamedTuple):
    text: str  # what is read, colour or not: 已超时 3小时 / 剩 0:52 / —
    css: str  # "overdue" | "critical" | "warning" | "ok" | "done"


def sla_badge(clock: TicketClock) -> SlaBadge:
    """The SLA badge of a queue row, in words (never colour alone)."""
    if clock.urgency == "done":
        return SlaBadge("—", "done")
    seconds = int(clock.remaining.total_seconds())
    if seconds <= 0:
        late = -seconds
        if late >= 3600:
            text = ngettext("Overdue %(n)d hour", "Overdue %(n)d hours", late // 3600) % {
                "n": late // 3600
            }
        else:
            minutes = max(1, late // 60)
            text = ngettext("Overdue %(n)d minute", "Overdue %(n)d minutes", minutes) % {
                "n": minutes
            }
        return SlaBadge(text, "overdue")
    return SlaBadge(
        pgettext("time left", "%(time)s left") % {"time": _hours_minutes(seconds)},
        clock.urgency,
    )
