"""The bell, the notification list, the store overview and the team page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from merchants.models import Membership, Store
from tests.factories import MembershipFactory, StoreFactory, TicketFactory, UserFactory
from tickets.models import Notification, ReplyOption, ReplyTemplate, Ticket, TicketState
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_escalate, ticket_reply

pytestmark = pytest.mark.django_db

# Thursday 2026-11-26 10:00 Asia/Shanghai. Its local week runs from Monday 11-23 00:00
# (Sunday 11-22 16:00 UTC) to Monday 11-30 00:00.
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A 2026 Asia/Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return membership


@pytest.fixture
def staff(owner):
    return MembershipFactory(store=owner.store, role=Membership.Role.AFTER_SALES)


def html(response) -> str:
    return response.content.decode()


def notify(store, *, at, recipient=None, ticket=None, title="Reminder"):
    return Notification.objects.create(
        store=store,
        ticket=ticket,
        recipient=recipient,
        kind="reminder",
        title=title,
        body="Reply before the deadline.",
        created_at=at,
    )


def opened(store, number, *, at) -> Ticket:
    ticket, _ = ticket_open(
        store=store, number=number, order_number=f"O-{number}", summary="s", now=at
    )
    return ticket


def replied(ticket, user, *, at, code="settled") -> Ticket:
    contact_log(ticket=ticket, user=user, channel="phone", attempted_at=at, now=at)
    return ticket_reply(
        ticket=ticket,
        user=user,
        option=ReplyOption.objects.get(platform=ticket.store.platform, code=code),
        agreed_at=at,
        now=at,
    )


# --- every page answers members and sends strangers to log in -------------------------

PAGES = ["overview", "notifications", "notification_bell", "team"]
ACTIONS = [
    ("team_round_robin", []),
    ("team_member_duty", [1]),
    ("team_phrase_add", []),
    ("team_phrase_delete", [1]),
]


@pytest.mark.parametrize("name", PAGES)
def test_pages_send_anonymous_visitors_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args"), ACTIONS)
def test_actions_send_anonymous_visitors_to_log_in(client, name, args):
    response = client.post(reverse(name, args=args), {"enabled": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.AFTER_SALES])
def test_pages_answer_any_member(client, name, role):
    client.force_login(MembershipFactory(role=role).user)
    assert client.get(reverse(name)).status_code == 200
    assert client.get(reverse(name), **HTMX).status_code == 200


def test_nav_links_the_new_pages_and_the_bell_on_every_dashboard_page(client, owner):
    for page in (reverse("home"), reverse("overview"), reverse("team")):
        body = html(client.get(page))
        assert f'href="{reverse("overview")}"' in body
        assert f'href="{reverse("team")}"' in body
        assert 'id="notification-bell"' in body
        assert f'hx-get="{reverse("notification_bell")}"' in body
        assert "every 30s" in body


# --- the bell ---------------------------------------------------------------------------


def bell_count(client) -> int:
    body = html(client.get(reverse("notification_bell"), **HTMX))
    assert "<html" not in body  # just the partial
    assert 'id="notification-bell"' in body and f'href="{reverse("notifications")}"' in body
    return int(re.search(r'data-unread="(\d+)"', body).group(1))


def test_bell_counts_store_wide_and_own_notifications_newer_than_the_last_visit(client, owner):
    seen_at = NOW - timedelta(hours=3)
    Membership.objects.filter(pk=owner.pk).update(notifications_seen_at=seen_at)
    colleague = MembershipFactory(store=owner.store, role=Membership.Role.AFTER_SALES).user
    ticket = TicketFactory(store=owner.store)
    fresh = NOW - timedelta(hours=1)
    notify(owner.store, at=fresh, ticket=ticket)  # store-wide: counts
    notify(owner.store, at=fresh)  # store-wide, no ticket: counts
    notify(owner.store, at=fresh, recipient=owner.user, ticket=ticket)  # mine: counts
    notify(owner.store, at=fresh, recipient=colleague, ticket=ticket)  # a colleague's: no
    notify(StoreFactory(), at=fresh)  # another store's: no
    notify(owner.store, at=seen_at - timedelta(minutes=1))  # already seen: no

    assert bell_count(client) == 3


def test_bell_counts_everything_visible_before_the_first_visit(client, owner):
    notify(owner.store, at=NOW - timedelta(days=30))
    notify(owner.store, at=NOW - timedelta(days=1), recipient=owner.user)
    notify(owner.store, at=NOW, recipient=UserFactory())
    assert bell_count(client) == 2


def test_bell_caps_its_count(client, owner):
    for i in range(101):
        notify(owner.store, at=NOW - timedelta(minutes=i))
    body = html(client.get(reverse("notification_bell")))
    assert "99+" in body


def test_pages_that_know_the_count_render_the_bell_without_an_extra_request(client, owner):
    notify(owner.store, at=NOW)
    body = html(client.get(reverse("overview")))
    assert 'data-unread="1"' in body
    assert 'hx-trigger="every 30s"' in body
    # The inbox does not compute it: its bell fetches the count once on load.
    assert 'hx-trigger="load, every 30s"' in html(client.get(reverse("home")))


# --- the notification list --------------------------------------------------------------


def test_list_highlights_unread_links_tickets_and_marks_everything_seen(client, owner):
    seen_at = NOW - timedelta(hours=3)
    Membership.objects.filter(pk=owner.pk).update(notifications_seen_at=seen_at)
    ticket = TicketFactory(store=owner.store)
    old = notify(owner.store, at=seen_at - timedelta(hours=1), title="Old one")
    new = notify(owner.store, at=NOW - timedelta(minutes=5), ticket=ticket, title="New one")
    mine = notify(owner.store, at=NOW - timedelta(minutes=1), recipient=owner.user, title="Mine")
    notify(owner.store, at=NOW, recipient=UserFactory(), title="Someone else's")
    notify(StoreFactory(), at=NOW, title="Other store's")

    body = html(client.get(reverse("notifications")))

    shown = re.findall(r'class="card notification( unread)?" data-notification="(\d+)"', body)
    assert shown == [(" unread", str(mine.pk)), (" unread", str(new.pk)), ("", str(old.pk))]
    assert f'href="{reverse("ticket_detail", args=[ticket.pk])}"' in body
    assert "Someone else" not in body and "Other store" not in body
    owner.refresh_from_db()
    assert owner.notifications_seen_at == NOW
    assert bell_count(client) == 0
    assert 'data-unread="0"' in body  # the page's own bell already reads zero
    again = html(client.get(reverse("notifications")))
    assert "notification unread" not in again


def test_list_pages_by_25_newest_first(client, owner):
    for i in range(30):
        notify(owner.store, at=NOW - timedelta(minutes=i), title=f"N{i:02d}")
    first = html(client.get(reverse("notifications")))
    second = html(client.get(reverse("notifications"), {"page": 2}))
    assert first.count('class="card notification') == 25
    assert second.count('class="card notification') == 5
    assert first.index("N00") < first.index("N01")
    assert "N29" in second and "N29" not in first
    assert "Page 1 of 2" in first


def test_list_query_count_does_not_grow_with_rows(client, owner, django_assert_max_num_queries):
    ticket = TicketFactory(store=owner.store)

    def add(n):
        for i in range(n):
            notify(owner.store, at=NOW - timedelta(minutes=i), ticket=ticket, recipient=owner.user)
            notify(owner.store, at=NOW - timedelta(minutes=i))

    add(4)  # N = 8 rows
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("notifications"))
    add(4)  # 2N = 16 rows
    # session, user, memberships+store, COUNT, page rows, UPDATE seen_at
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("notifications"))
    assert html(response).count('class="card notification') == 16
    assert len(few.captured_queries) <= 6


# --- the overview -----------------------------------------------------------------------


@pytest.fixture
def week_of_tickets(owner):
    """A small, hand-counted week for a Taobao store (24 h to reply)."""
    store, user = owner.store, owner.user
    opened(store, "A", at=local(11, 26, 9))  # open, due Fri 09:00
    opened(store, "B", at=local(11, 25, 11))  # open, due Thu 11:00: within 2 h
    opened(store, "C", at=local(11, 25, 8))  # open, due Thu 08:00: overdue
    replied(opened(store, "D", at=local(11, 24, 10)), user, at=local(11, 24, 11, 30))
    # Replied last Sunday: before this week.
    replied(opened(store, "E", at=local(11, 22, 10)), user, at=local(11, 22, 11))
    # Monday 00:30 local is Sunday 16:30 UTC: received on 11-23, escalated on 11-24.
    f = opened(store, "F", at=local(11, 23, 0, 30))
    ticket_escalate(ticket=f, user=None, now=f.due_at)
    # Escalated last week.
    g = opened(store, "G", at=local(11, 20, 10))
    ticket_escalate(ticket=g, user=None, now=g.due_at)
    # "Consumer disagrees": replied in time and escalated at once, Wednesday 13:00.
    replied(opened(store, "I", at=local(11, 25, 12)), user, at=local(11, 25, 13), code="disagrees")
    # Received 31 days ago: outside the chart.
    opened(store, "OLD", at=local(10, 26, 12))
    # Another store's tickets count nowhere.
    opened(StoreFactory(), "X", at=local(11, 25, 8))
    return store


def figure(body: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"><dt>[^<]*</dt><dd>([^<]*)<', body)
    return match.group(1)


def test_overview_figures(client, week_of_tickets):
    assert set(Ticket.objects.filter(store=week_of_tickets).values_list("state", flat=True)) == {
        TicketState.OPEN,
        TicketState.REPLIED,
        TicketState.ESCALATED,
    }
    body = html(client.get(reverse("overview")))
    assert figure(body, "open") == "4"  # A, B, C and OLD (never swept)
    assert figure(body, "due_soon") == "1"  # B
    assert figure(body, "overdue") == "2"  # C and OLD
    assert figure(body, "replied_in_time_week") == "2"  # D, I (E was last week)
    assert figure(body, "escalated_week") == "2"  # F, I (G was last week)
    assert figure(body, "dispute_refund_rate") == "—"
    assert "Appears once the nightly reports exist." in body


def test_overview_chart_counts_local_days(client, week_of_tickets):
    body = html(client.get(reverse("overview")))

    start = body.index('<svg class="chart"')
    svg = body[start : body.index("</svg>", start)]
    assert 'role="img"' in svg and "<title" in svg and "aria-labelledby" in svg
    assert svg.count('<rect class="bar received"') == 30
    assert svg.count('<rect class="bar escalated"') == 30
    received = [int(v) for v in re.findall(r'class="bar received"[^>]*data-value="(\d+)"', svg)]
    escalated = [int(v) for v in re.findall(r'class="bar escalated"[^>]*data-value="(\d+)"', svg)]
    assert sum(received) == 8  # every ticket but OLD and the other store's
    assert sum(escalated) == 3  # F, G, I
    assert received[-1] == 1  # today: A

    rows = dict(
        (day, (int(r), int(e)))
        for day, r, e in re.findall(
            r'<tr data-day="([\d-]+)"><th scope="row">.*?</th><td>(\d+)</td><td>(\d+)</td>', body
        )
    )
    assert len(rows) == 30
    assert min(rows) == "2026-10-28" and max(rows) == "2026-11-26"
    assert rows["2026-11-26"] == (1, 0)  # A
    assert rows["2026-11-25"] == (3, 1)  # B, C, I; I escalated
    assert rows["2026-11-24"] == (1, 1)  # D; F escalated Tue 00:30 local
    assert rows["2026-11-23"] == (1, 0)  # F, by Shanghai midnight, not UTC
    assert rows["2026-11-22"] == (1, 0)  # E
    assert rows["2026-11-21"] == (0, 1)  # G escalated
    assert rows["2026-11-20"] == (1, 0)  # G
    assert sum(r for r, _ in rows.values()) == 8


def test_overview_query_count_does_not_grow_with_tickets(
    client, owner, django_assert_max_num_queries
):
    def add(n, offset):
        for i in range(n):
            opened(owner.store, f"Q{offset + i}", at=NOW - timedelta(days=i, hours=1))

    add(5, 0)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("overview"))
    add(5, 100)
    # session, user, memberships+store, figures, received per day, escalated per day, bell
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("overview"))
    assert len(few.captured_queries) <= 7


# --- the team page ----------------------------------------------------------------------


def test_owner_turns_round_robin_on_and_off(client, owner):
    response = client.post(reverse("team_round_robin"), {"enabled": "1"}, **HTMX)
    assert response.status_code == 200
    assert 'id="team-round-robin"' in html(response) and "<html" not in html(response)
    assert Store.objects.get(pk=owner.store_id).round_robin is True

    response = client.post(reverse("team_round_robin"), {"enabled": "0"})  # without JS
    assert response.status_code == 302 and response["Location"].startswith(reverse("team"))
    assert Store.objects.get(pk=owner.store_id).round_robin is False


def test_a_bad_switch_value_is_refused(client, owner):
    response = client.post(reverse("team_round_robin"), {"enabled": "maybe"})
    assert response.status_code == 400
    assert Store.objects.get(pk=owner.store_id).round_robin is False


def test_owner_takes_a_member_off_duty(client, owner, staff):
    response = client.post(reverse("team_member_duty", args=[staff.pk]), {"enabled": "0"}, **HTMX)
    assert response.status_code == 200 and 'id="team-members"' in html(response)
    staff.refresh_from_db()
    assert staff.on_duty is False

    response = client.post(reverse("team_member_duty", args=[staff.pk]), {"enabled": "1"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.on_duty is True


def test_another_stores_member_is_not_found(client, owner):
    stranger = MembershipFactory()
    response = client.post(reverse("team_member_duty", args=[stranger.pk]), {"enabled": "0"})
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.on_duty is True


def test_owner_adds_and_deletes_quick_phrases(client, owner):
    response = client.post(
        reverse("team_phrase_add"), {"title": "催发货", "text": "亲，已为您催促仓库发货。"}, **HTMX
    )
    assert response.status_code == 200
    assert 'id="team-phrases"' in html(response) and "亲，已为您催促仓库发货。" in html(response)
    phrase = ReplyTemplate.objects.get(store=owner.store)

    response = client.post(reverse("team_phrase_add"), {"title": "退款", "text": "已退款。"})
    assert response.status_code == 302
    assert ReplyTemplate.objects.filter(store=owner.store).count() == 2

    response = client.post(reverse("team_phrase_delete", args=[phrase.pk]), **HTMX)
    assert response.status_code == 200
    assert not ReplyTemplate.objects.filter(pk=phrase.pk).exists()


@pytest.mark.parametrize("htmx", [True, False])
def test_service_refusals_show_inline_and_change_nothing(client, owner, htmx):
    ReplyTemplate.objects.create(store=owner.store, title="催发货", text="亲，已催。")
    headers = HTMX if htmx else {}

    duplicate = client.post(reverse("team_phrase_add"), {"title": "催发货", "text": "x"}, **headers)
    blank = client.post(reverse("team_phrase_add"), {"title": " ", "text": ""}, **headers)

    assert duplicate.status_code == 200
    assert "The store already has a phrase with this title." in html(duplicate)
    assert "Give the phrase a short title." in html(blank) and "Write the phrase." in html(blank)
    assert ("<html" in html(blank)) is not htmx
    assert ReplyTemplate.objects.filter(store=owner.store).count() == 1


def test_a_too_long_title_is_a_form_error(client, owner):
    response = client.post(reverse("team_phrase_add"), {"title": "x" * 51, "text": "y"}, **HTMX)
    assert response.status_code == 200 and 'role="alert"' in html(response)
    assert not ReplyTemplate.objects.exists()


def test_another_stores_quick_phrase_is_not_found(client, owner):
    theirs = ReplyTemplate.objects.create(store=StoreFactory(), title="t", text="x")
    response = client.post(reverse("team_phrase_delete", args=[theirs.pk]))
    assert response.status_code == 404
    assert ReplyTemplate.objects.filter(pk=theirs.pk).exists()


def test_non_owner_sees_the_team_read_only(client, owner, staff):
    ReplyTemplate.objects.create(store=owner.store, title="催发货", text="亲，已催。")
    client.force_login(staff.user)
    body = html(client.get(reverse("team")))
    assert "亲，已催。" in body
    assert staff.user.username in body and owner.user.username in body
    for name, args in [
        ("team_round_robin", []),
        ("team_member_duty", [staff.pk]),
        ("team_phrase_add", []),
    ]:
        assert f'action="{reverse(name, args=args)}"' not in body


def test_non_owner_posts_are_refused_and_change_nothing(client, owner, staff):
    phrase = ReplyTemplate.objects.create(store=owner.store, title="催发货", text="亲，已催。")
    client.force_login(staff.user)

    responses = [
        client.post(reverse("team_round_robin"), {"enabled": "1"}),
        client.post(reverse("team_member_duty", args=[owner.pk]), {"enabled": "0"}, **HTMX),
        client.post(reverse("team_member_duty", args=[staff.pk]), {"enabled": "0"}),
        client.post(reverse("team_phrase_add"), {"title": "新", "text": "新的"}, **HTMX),
        client.post(reverse("team_phrase_add"), {"title": "x" * 80, "text": ""}),
        client.post(reverse("team_phrase_delete", args=[phrase.pk])),
    ]

    assert [r.status_code for r in responses] == [403] * 6
    assert Store.objects.get(pk=owner.store_id).round_robin is False
    assert set(Membership.objects.filter(store=owner.store).values_list("on_duty", flat=True)) == {
        True
    }
    assert list(ReplyTemplate.objects.values_list("pk", flat=True)) == [phrase.pk]
