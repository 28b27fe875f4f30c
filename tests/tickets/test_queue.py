"""The merchant's work queue: tabs, time left on each ticket's own clock, sorting,
search, pagination across the open tickets and the rest, fixed query counts."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import MembershipFactory, StoreFactory
from tickets import queue
from tickets.models import ReplyOption, Ticket, TicketEvent, TicketKind, TicketState
from tickets.queue import PAGE_SIZE, platform_policies, queue_counts, queue_page, sla_badge
from tickets.selectors import ticket_clock
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_reply
from tickets.services.sweeps import sweep_run
from tickets.services.team import ticket_claim

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
HTMX = {"HTTP_HX_REQUEST": "true"}


def local(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


# Tuesday 24 November 2026, 21:00 in Beijing: JD's working clock is paused.
NIGHT = local(24, 21)


def opened(store, number, at, **kwargs):
    ticket, _ = ticket_open(
        store=store,
        number=number,
        order_number=kwargs.pop("order_number", f"O-{number}"),
        summary=kwargs.pop("summary", "买家催发货"),
        now=at,
        **kwargs,
    )
    return ticket


def numbers(page) -> list[str]:
    return [row.ticket.number for row in page.rows]


def page_of(store, user, view="todo", sort="left", q="", number=1, size=PAGE_SIZE, now=NIGHT):
    return queue_page(
        store=store,
        user=user,
        view=view,
        sort=sort,
        filters={"q": q} if q else {},
        created_range=(None, None),
        page_number=number,
        now=now,
        page_size=size,
    )


@pytest.fixture
def jd():
    owner = MembershipFactory(store=StoreFactory(jd=True), role="owner")
    return owner.store, owner.user


@pytest.fixture
def jd_queue(jd):
    store, user = jd
    # A CRC ticket with 3 working hours left, paused overnight (due Wed 12:00).
    opened(store, "CRC-3H", local(24, 18), kind=TicketKind.CRC_HIGH_RISK)
    # A 24-hour ticket with 52 minutes left (due Tue 21:52).
    opened(store, "N-52M", local(23, 21, 52))
    # A CRC ticket with 30 working minutes left (due Wed 09:30).
    opened(store, "CRC-30M", local(24, 15, 30), kind=TicketKind.CRC_HIGH_RISK)
    # A 24-hour ticket with 20 hours left.
    opened(store, "N-20H", local(24, 17))
    return store, user


def test_time_left_on_each_tickets_own_clock_orders_the_queue(jd_queue):
    store, user = jd_queue
    # due_at alone would say N-52M (21:52), CRC-30M (Wed 09:30), CRC-3H (Wed 12:00).
    assert numbers(page_of(store, user)) == ["CRC-30M", "N-52M", "CRC-3H", "N-20H"]
    badges = {
        row.ticket.number: (row.badge.text, row.clock.paused) for row in page_of(store, user).rows
    }
    assert badges["CRC-30M"] == ("0:30 left", True)
    assert badges["N-52M"] == ("0:52 left", False)
    assert badges["CRC-3H"] == ("3:00 left", True)


def test_other_sorts(jd_queue):
    store, user = jd_queue
    assert numbers(page_of(store, user, sort="created")) == ["N-52M", "CRC-30M", "N-20H", "CRC-3H"]
    assert numbers(page_of(store, user, sort="-created")) == [
        "CRC-3H",
        "N-20H",
        "CRC-30M",
        "N-52M",
    ]
    assert numbers(page_of(store, user, sort="due")) == ["N-52M", "CRC-30M", "CRC-3H", "N-20H"]
    assert numbers(page_of(store, user, sort="-due")) == ["N-20H", "CRC-3H", "CRC-30M", "N-52M"]


def test_due_soon_is_under_two_hours_on_the_tickets_own_clock(jd_queue):
    store, user = jd_queue
    assert numbers(page_of(store, user, view="soon")) == ["CRC-30M", "N-52M"]
    counts = queue_counts(
        store=store, user=user, now=NIGHT, policies=platform_policies(platform=store.platform)
    )
    assert counts["soon"] == 2 and counts["todo"] == 4


def test_tabs_hold_what_their_names_say(jd):
    store, user = jd
    other = MembershipFactory(store=store, role="after_sales").user
    contact_at = local(24, 11)
    # open, due soon
    fresh = opened(store, "OPEN-1", local(24, 20))
    # replied
    replied = opened(store, "REPLIED-1", local(24, 10))
    contact_log(ticket=replied, user=user, channel="phone", attempted_at=contact_at, now=contact_at)
    settled = ReplyOption.objects.get(platform=store.platform, code="settled")
    ticket_reply(ticket=replied, user=user, option=settled, agreed_at=contact_at, now=contact_at)
    # timed out and escalated by the sweep
    opened(store, "LATE-1", local(22, 10))
    sweep_run(now=local(24, 9))
    # past due, still open (the sweep has not run since)
    opened(store, "LATE-2", local(23, 19))
    # assigned to me / to someone else
    Ticket.objects.filter(pk=fresh.pk).update(assignee=user)
    mine_other = opened(store, "OTHERS-1", local(24, 20, 30))
    Ticket.objects.filter(pk=mine_other.pk).update(assignee=other)

    def tab(view):
        return set(numbers(page_of(store, user, view=view)))

    assert tab("todo") == {"OPEN-1", "LATE-1", "LATE-2", "OTHERS-1"}
    assert tab("overdue") == {"LATE-1", "LATE-2"}
    assert tab("replied") == {"REPLIED-1"}
    assert tab("escalated") == {"LATE-1"}
    assert tab("mine") == {"OPEN-1"}
    assert tab("all") == {"OPEN-1", "REPLIED-1", "LATE-1", "LATE-2", "OTHERS-1"}
    # Overdue ones come first, by how late they are; escalated after every open one.
    assert numbers(page_of(store, user, view="todo"))[0] == "LATE-2"
    assert numbers(page_of(store, user, view="todo"))[-1] == "LATE-1"
    badge = sla_badge(ticket_clock(ticket=Ticket.objects.get(number="LATE-2"), now=NIGHT))
    assert badge == ("Overdue 2 hours", "overdue")


def test_pages_run_on_from_the_open_tickets_into_the_rest(jd):
    store, user = jd
    for i in range(3):
        opened(store, f"OPEN-{i}", local(24, 12 + i))
    for i in range(3):
        opened(store, f"LATE-{i}", local(20, 10 + i))
    sweep_run(now=local(24, 11))  # the LATE ones escalate
    pages = [numbers(page_of(store, user, view="all", number=n, size=2)) for n in (1, 2, 3, 4)]
    assert pages[0] == ["OPEN-0", "OPEN-1"]
    assert pages[1] == ["OPEN-2", "LATE-2"]  # then the others, newest first
    assert pages[2] == ["LATE-1", "LATE-0"]
    assert pages[3] == pages[2]  # past the end: the last page
    assert page_of(store, user, view="all", size=2).num_pages == 3


def test_tab_counts_stop_at_the_cap_and_read_as_more(jd, owner_client, monkeypatch):
    # given 4 open tickets (2 past due) and 1 escalated with no reply, and a cap of 2
    store, user = jd
    for i in range(4):
        opened(store, f"OPEN-{i}", local(24, 12 + i))
    opened(store, "LATE-0", local(22, 10))
    sweep_run(now=local(24, 9))  # escalated, no reply: overdue
    opened(store, "LATE-1", local(23, 19))
    opened(store, "LATE-2", local(23, 19, 30))  # both past due at NIGHT, still open
    monkeypatch.setattr(queue, "COUNT_CAP", 2)
    policies = platform_policies(platform=store.platform)
    # when the tabs are counted
    counts = queue_counts(store=store, user=user, now=NIGHT, policies=policies)
    # then each count stops one past the cap, and "overdue" adds its two parts up to it
    assert counts["todo"] == 3 and counts["escalated"] == 1 and counts["replied"] == 0
    assert counts["overdue"] == 3
    assert [queue.count_label(n) for n in (counts["todo"], counts["escalated"])] == ["2+", "1"]
    with time_machine.travel(NIGHT, tick=False):
        html = owner_client.get(reverse("home")).content.decode()
    assert 'data-view="todo">To do <span class="count">2+</span>' in html
    assert 'data-view="escalated">Escalated <span class="count">1</span>' in html


def test_the_list_total_is_counted_only_a_few_pages_ahead(jd, owner_client, monkeypatch):
    # given 7 open tickets, 2 to a page, counted at most 1 page past the one asked for
    store, user = jd
    for i in range(7):
        opened(store, f"OPEN-{i}", local(24, 12) + timedelta(minutes=i))
    monkeypatch.setattr(queue, "PAGES_AHEAD", 1)
    # when page 1 is asked for, there are "more than 2" pages (4 counted, a 5th seen)
    first = page_of(store, user, view="all", size=2)
    assert (first.count, first.more, first.num_pages, first.has_next) == (4, True, 2, True)
    # and page 3 counts far enough to see the end: 7 tickets, 4 pages, exact
    third = page_of(store, user, view="all", size=2, number=3)
    assert (third.count, third.more, third.num_pages) == (7, False, 4)
    assert numbers(third) == ["OPEN-4", "OPEN-5"]
    # and a page past the end is the last one
    assert numbers(page_of(store, user, view="all", size=2, number=9)) == ["OPEN-6"]
    # and the page says so in words (25 to a page there: with 0 pages ahead, 26 is "more")
    monkeypatch.setattr(queue, "PAGES_AHEAD", 0)
    for i in range(PAGE_SIZE + 1 - 7):
        opened(store, f"MORE-{i}", local(24, 14) + timedelta(minutes=i))
    with time_machine.travel(NIGHT, tick=False):
        html = owner_client.get(reverse("home"), {"view": "all"}).content.decode()
    assert f"More than {PAGE_SIZE} tickets" in html
    assert "Page 1 of more than 1" in html


def test_a_one_clock_store_pages_from_the_open_tickets_into_the_rest():
    # given a Taobao store (one clock: the database skips to the page) with 3 open
    # tickets and 5 escalated ones
    owner = MembershipFactory(store=StoreFactory(), role="owner")
    store, user = owner.store, owner.user
    for i in range(3):
        opened(store, f"OPEN-{i}", local(24, 12 + i))
    for i in range(5):
        opened(store, f"LATE-{i}", local(20, 10 + i))
    sweep_run(now=local(24, 11))
    # when paged 2 at a time
    pages = [numbers(page_of(store, user, view="all", number=n, size=2)) for n in (1, 2, 3, 4)]
    # then the open ones by time left, then the rest (page 3 lies past every open one)
    assert pages == [
        ["OPEN-0", "OPEN-1"],
        ["OPEN-2", "LATE-4"],
        ["LATE-3", "LATE-2"],
        ["LATE-1", "LATE-0"],
    ]


@pytest.mark.parametrize("sort", ["left", "created", "-created", "due", "-due"])
def test_a_search_orders_its_matches_as_the_tab_does(jd_queue, sort, monkeypatch):
    # given the mixed clocks of jd_queue and escalated tickets, every number matching "-"
    store, user = jd_queue
    for i in range(3):
        opened(store, f"LATE-{i}", local(20, 10 + i))
    sweep_run(now=local(24, 11))
    tab = [
        numbers(page_of(store, user, view="all", sort=sort, size=3, number=n)) for n in (1, 2, 3)
    ]
    # when searched: all matches read at once and ordered in memory
    searched = [
        numbers(page_of(store, user, view="all", sort=sort, q="-", size=3, number=n))
        for n in (1, 2, 3)
    ]
    # then the order is the tab's
    assert searched == tab
    # and with more matches than the count reads, the ordered reads give the same pages
    monkeypatch.setattr(queue, "PAGES_AHEAD", 0)
    many = [
        numbers(page_of(store, user, view="all", sort=sort, q="-", size=3, number=n))
        for n in (1, 2, 3)
    ]
    assert many == tab


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("7788", ["RB-77889"]),  # a fragment of the ticket number
        ("rb-77", ["RB-77889"]),  # any case
        ("5566", ["RB-10001"]),  # a fragment of the order number
        ("李四", ["RB-77889"]),  # the consumer's name
        ("4321", ["RB-10001"]),  # the phone's last 4 digits
        ("退款", ["RB-10001"]),  # a word of the summary, in Chinese
        ("1380", []),  # never the middle of the phone number
        ("nothing", []),
    ],
)
def test_search(jd, term, found):
    store, user = jd
    opened(
        store,
        "RB-10001",
        local(24, 20),
        order_number="ORD-55667",
        summary="买家要求退款",
        consumer_name="张三",
        consumer_phone="13800004321",
    )
    opened(
        store,
        "RB-77889",
        local(24, 20),
        order_number="ORD-12121",
        consumer_name="李四",
        consumer_phone="13911112222",
    )
    opened(StoreFactory(jd=True), "RB-77880", local(24, 20))  # another store's
    assert numbers(page_of(store, user, view="all", q=term)) == found


@pytest.mark.postgres
def test_search_can_use_the_trigram_index():
    from tickets.queue import search_filter

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = search_filter(Ticket.objects.all(), "买家催").explain()
    assert "ticket_search_trgm" in plan


@pytest.mark.postgres
def test_the_planner_has_statistics_on_exactly_the_searched_expression():
    """How common a term is comes from statistics on the search expression (migration
    0020); on any other expression they would be gathered and never used."""
    from tickets.queue import search_filter

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext "
            "WHERE stxname = 'ticket_search_text_stats'"
        )
        (definition,) = cursor.fetchone()
        cursor.execute("SELECT pg_get_indexdef('ticket_search_trgm'::regclass)")
        (index,) = cursor.fetchone()
    expression = definition.split(" ON ", 1)[1].rsplit(" FROM ", 1)[0]
    assert expression.startswith("upper(")

    # The two are deparsed with different parentheses around the casts.
    def bare(sql: str) -> str:
        return "".join(ch for ch in sql if ch not in "() ")

    assert bare(expression) + "gin_trgm_ops" in bare(index)
    # And the queue's own SQL is that expression (what the index test above relies on).
    sql = str(search_filter(Ticket.objects.all(), "x").query)
    assert 'UPPER("tickets_ticket"."number" || \' \' || "tickets_ticket"."order_number"' in sql


# --- the pages ------------------------------------------------------------------------


@pytest.fixture
def owner_client(client, jd):
    store, user = jd
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"view": "soon"},
        {"view": "overdue"},
        {"view": "replied"},
        {"view": "escalated"},
        {"view": "all", "sort": "-created"},
        {"view": "mine"},
        {"view": "all", "q": "RB"},
        {"view": "all", "page": "2"},
    ],
)
def test_inbox_views_keep_a_fixed_number_of_queries(
    owner_client, jd, params, django_assert_max_num_queries
):
    store, user = jd

    def make(n, prefix):
        for i in range(n):
            kind = TicketKind.CRC_HIGH_RISK if i % 2 else TicketKind.NORMAL
            opened(store, f"RB-{prefix}{i:03d}", local(24, 19) + timedelta(minutes=i), kind=kind)

    make(3, "A")
    with time_machine.travel(NIGHT, tick=False), CaptureQueriesContext(connection) as few:
        assert owner_client.get(reverse("home"), params).status_code == 200
    make(40, "B")
    with (
        time_machine.travel(NIGHT, tick=False),
        django_assert_max_num_queries(len(few.captured_queries)),
    ):
        assert owner_client.get(reverse("home"), params).status_code == 200


@time_machine.travel(NIGHT, tick=False)
def test_the_inbox_page_shows_tabs_sla_words_and_a_legend(owner_client, jd_queue):
    html = owner_client.get(reverse("home")).content.decode()
    assert 'aria-current="page" data-view="todo"' in html
    assert "0:30 left" in html and "clock paused" in html
    assert "What the badges mean" in html
    assert html.index("CRC-30M") < html.index("N-52M") < html.index("CRC-3H")


@time_machine.travel(NIGHT, tick=False)
def test_assigning_nothing_says_so_inline_with_a_200(owner_client, jd_queue):
    response = owner_client.post(reverse("ticket_assign"), {"assignee": ""}, **HTMX)
    assert response.status_code == 200
    assert "Select at least one ticket." in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert not TicketEvent.objects.filter(action="assigned").exists()


@time_machine.travel(NIGHT, tick=False)
def test_after_sales_staff_take_an_unassigned_ticket(client, jd_queue):
    store, _ = jd_queue
    staff = MembershipFactory(store=store, role="after_sales").user
    client.force_login(staff)
    ticket = Ticket.objects.get(number="N-52M")
    html = client.get(reverse("home")).content.decode()
    assert f'hx-post="{reverse("ticket_claim", args=[ticket.pk])}' in html

    response = client.post(reverse("ticket_claim", args=[ticket.pk]), **HTMX)

    assert response.status_code == 200
    assert "You took ticket N-52M." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == staff
    event = ticket.events.get(action="assigned")
    assert event.actor == staff and event.payload == {"assignee": staff.username, "claimed": True}


def test_a_ticket_taken_by_someone_else_cannot_be_taken_again(jd_queue):
    store, owner = jd_queue
    first = MembershipFactory(store=store, role="after_sales").user
    second = MembershipFactory(store=store, role="after_sales").user
    ticket = Ticket.objects.get(number="N-52M")
    ticket_claim(ticket=ticket, user=first, now=NIGHT)
    with pytest.raises(ValidationError) as excinfo:
        ticket_claim(ticket=ticket, user=second, now=NIGHT)
    assert excinfo.value.code == "already_claimed"
    ticket.refresh_from_db()
    assert ticket.assignee == first
    assert ticket.events.filter(action="assigned").count() == 1
    # Claiming again what is already yours changes nothing and writes nothing.
    ticket_claim(ticket=ticket, user=first, now=NIGHT)
    assert ticket.events.filter(action="assigned").count() == 1
    with pytest.raises(PermissionDenied):
        ticket_claim(ticket=ticket, user=MembershipFactory().user, now=NIGHT)


def test_a_closed_ticket_cannot_be_taken(jd):
    store, user = jd
    ticket = opened(store, "X-1", local(24, 10))
    Ticket.objects.filter(pk=ticket.pk).update(state=TicketState.CLOSED)
    with pytest.raises(ValidationError) as excinfo:
        ticket_claim(ticket=ticket, user=user, now=NIGHT)
    assert excinfo.value.code == "wrong_state"
    ticket.refresh_from_db()
    assert ticket.assignee is None


@time_machine.travel(NIGHT, tick=False)
def test_contact_time_defaults_to_now_in_beijing_time(owner_client, jd_queue):
    ticket = Ticket.objects.get(number="N-52M")
    html = owner_client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert 'value="2026-11-24T21:00"' in html


@time_machine.travel(NIGHT, tick=False)
def test_an_escalating_reply_asks_first_and_a_refused_one_says_why(owner_client, jd_queue):
    ticket = Ticket.objects.get(number="N-52M")
    store = ticket.store
    url = reverse("ticket_reply", args=[ticket.pk])
    disagrees = ReplyOption.objects.get(platform=store.platform, code="disagrees")
    unreachable = ReplyOption.objects.get(platform=store.platform, code="unreachable")
    # no contact yet: the refusal, not the confirmation
    refused = owner_client.post(url, {"option": disagrees.pk}, **HTMX).content.decode()
    assert 'id="confirm-escalation"' not in refused and "contact attempt" in refused
    contact_log(
        ticket=ticket,
        user=store.memberships.get().user,
        channel="phone",
        attempted_at=NIGHT - timedelta(minutes=5),
        now=NIGHT,
    )
    asked = owner_client.post(url, {"option": disagrees.pk}, **HTMX).content.decode()
    assert 'id="confirm-escalation"' in asked and "platform intervention at once" in asked
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OPEN
    # "unreachable" needs two attempts: refused before any confirmation
    again = owner_client.post(url, {"option": unreachable.pk}, **HTMX).content.decode()
    assert 'id="confirm-escalation"' not in again
    done = owner_client.post(url, {"option": disagrees.pk, "confirm_escalation": "1"}, **HTMX)
    assert done.status_code == 200
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED
