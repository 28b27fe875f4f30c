"""No way in where one does not belong (issue 13): every URL of the merchant site,
enumerated from the resolver, so a new view is covered without editing this file.

- Called by the owner of store A with store B's ids in the URL (GET and POST, plain and
  htmx), a URL that names objects answers 404, 405 or a redirect to the login, and
  nothing of store B is changed. Where a URL names two objects, each is also tried
  alone with store A's other one (A's ticket with B's evidence file).
- A URL that names no object (lists, inbox, overview, downloads, the live stream) is
  asked with B's ids in its query string and form data, and shows nothing of B.
- Called anonymously, every URL sends the browser to the login (204 with HX-Redirect
  for htmx), never a page.
- Control: the same URLs with store A's own ids answer a page, so a 404 above is the
  store check, not a URL or an object this file got wrong.

A URL keyword this file cannot map to an object fails the test: add the object to
``build_world`` and the name to ``NAME_KINDS`` or ``SEGMENT_KINDS``.
"""

import io
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern
from PIL import Image

from arbitration.models import Appeal, AppealEvidence, Judgment, Violation
from arbitration.services.appeals import appeal_file
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from merchants.models import Membership, Store
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    staff_user,
)
from tickets.models import (
    ContactAttempt,
    Evidence,
    ExemptionRequest,
    Notification,
    ReplyTemplate,
    Ticket,
)
from tickets.services.contacts import contact_log
from tickets.services.evidence import evidence_upload
from tickets.services.exemptions import exemption_request
from tickets.services.lifecycle import ticket_escalate
from tickets.services.team import reply_template_create

# Every route outside the merchant dashboard, matched by prefix, and why it is not here.
EXCLUDED = {
    "admin/": "the platform staff's admin site: is_staff and role groups, not store "
    "membership (tests/tickets/test_admin*.py, tests/arbitration/test_admin*.py)",
    "api/": "the intake API: bearer-token authenticated, no session and no current "
    "store (tests/tickets/test_api.py)",
    "accounts/": "django.contrib.auth's login, logout and password views: the way in, "
    "before any store",
    "i18n/": "set_language: stores the visitor's language, reads no store data",
    "favicon.ico": "a redirect to a static file, public by design",
    # Static files are served by WhiteNoise's middleware and media never by URL (every
    # evidence file goes through a store-checked view), so neither has a route to skip.
}

# What a URL keyword names. An explicit name first; "pk"/"id" by the path segment
# before it ("tickets/<int:pk>/" is a ticket, "team/phrases/<int:pk>/" a quick phrase).
NAME_KINDS = {
    "ticket_id": "ticket",
    "evidence_id": "evidence",
    "contact_id": "contact",
    "notification_id": "notification",
    "appeal_id": "appeal",
    "appeal_evidence_id": "appeal_evidence",
    "exemption_id": "exemption",
    "template_id": "reply_template",
    "phrase_id": "reply_template",
    "membership_id": "membership",
    "member_id": "membership",
    "store_id": "store",
    "judgment_id": "judgment",
    "violation_id": "violation",
    "finding_id": "violation",
}
GENERIC_NAMES = {"pk", "id"}
SEGMENT_KINDS = {
    "tickets": "ticket",
    "evidence": "evidence",
    "contacts": "contact",
    "notifications": "notification",
    "appeals": "appeal",
    "exemptions": "exemption",
    "phrases": "reply_template",
    "templates": "reply_template",
    "members": "membership",
    "memberships": "membership",
    "stores": "store",
    "judgments": "judgment",
    "findings": "violation",
    "violations": "violation",
}

CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
HTMX = {"HTTP_HX_REQUEST": "true"}
T0 = TUESDAY_10_SHANGHAI
LOGIN = "/accounts/login/"

# Every test here reads the module's worlds from the database: marked, so pytest-django
# runs them with the other database tests, before transactional tests flush the seeded
# policies (unmarked tests run last).
pytestmark = pytest.mark.django_db


def merchant_routes():
    """(route, pattern) for every URL pattern of the site, prefixes joined."""

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            else:
                yield route, entry

    return list(walk(get_resolver().url_patterns, ""))


def excluded_by(route: str) -> str | None:
    return next((prefix for prefix in EXCLUDED if route.startswith(prefix)), None)


ROUTES = [(route, entry) for route, entry in merchant_routes() if not excluded_by(route)]


def route_id(route: str, entry) -> str:
    return entry.name or route


def kwarg_names(route: str) -> list[str]:
    return [m["name"] for m in CONVERTER.finditer(route)]


def kind_of(route: str, name: str) -> str | None:
    if name in NAME_KINDS:
        return NAME_KINDS[name]
    if name in GENERIC_NAMES:
        match = next(m for m in CONVERTER.finditer(route) if m["name"] == name)
        segment = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        return SEGMENT_KINDS.get(segment)
    return None


# --- store A's and store B's worlds, built once for the module -----------------------


@dataclass
class World:
    """One store with one object of every kind a URL can name, and its leak markers."""

    store: Store
    owner: Membership
    member: Membership
    ticket: Ticket
    evidence: Evidence
    contact: ContactAttempt
    exemption: ExemptionRequest
    notification: Notification
    judgment: Judgment
    violation: Violation
    appeal: Appeal
    appeal_evidence: AppealEvidence
    reply_template: ReplyTemplate
    markers: tuple[str, ...]

    @property
    def membership(self) -> Membership:
        return self.member

    def object(self, kind: str):
        return getattr(self, kind)

    def query(self) -> dict:
        """Query parameters naming this store's objects (search, live stream, appeal)."""
        return {
            # The order number finds the ticket without being one of the markers, which
            # a search box would echo back.
            "q": self.ticket.order_number,
            "view": "all",
            "after": "0",
            "decision": f"judgment-{self.judgment.pk}",
        }

    def form(self) -> dict:
        """Form fields naming this store's objects, and enough for each form to be valid,
        so a view that read its form before its lookup would still reach the lookup."""
        return {
            "store": str(self.store.pk),
            "ticket": [str(self.ticket.pk)],
            "assignee": str(self.member.user_id),
            "decision": f"judgment-{self.judgment.pk}",
            "statement": "我们已在时限内联系买家",
            "enabled": "1",
            "channel": "phone",
            "attempted_at": "2026-11-24 11:00",
            "note": "called",
            "reason": "outage",
            "minutes": "60",
            "title": "phrase",
            "text": "phrase text",
        }


def png(name: str, colour: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def build_world(tag: str) -> World:
    """A store with a ticket that went the whole way: contact logged, evidence (with a
    thumbnail), time asked, escalated, judged, the file found forged, the judgment
    appealed with a file; plus a notification and a quick phrase."""
    store = StoreFactory(name=f"{tag}-store-name", code=f"{tag}CODE")
    owner = MembershipFactory(store=store, role=Membership.Role.OWNER, user__username=f"{tag}own")
    member = MembershipFactory(
        store=store, role=Membership.Role.AFTER_SALES, user__username=f"{tag}staff"
    )
    ticket = TicketFactory(
        store=store, number=f"{tag}-TICKET-NO", consumer_name=f"{tag}买家", created_at=T0
    )
    at = T0 + timedelta(hours=1)
    contact = contact_log(
        ticket=ticket, user=owner.user, channel="phone", attempted_at=at, note=f"{tag}-note", now=at
    )
    evidence = evidence_upload(
        ticket=ticket, user=owner.user, upload=png(f"{tag}.png", "red"), now=at
    )
    exemption = exemption_request(
        ticket=ticket, user=owner.user, reason=f"{tag}-reason", minutes=60, now=at
    )
    ticket = ticket_escalate(ticket=Ticket.objects.get(pk=ticket.pk), user=None, now=ticket.due_at)
    decided = T0 + timedelta(days=2)
    judge = staff_user("arbitrator", "cross-store-judge")
    judgment = ticket_judge(
        ticket=ticket,
        user=judge,
        merchant_liable=True,
        refund_amount="59.90",
        reasoning="商家未举证",
        now=decided,
    )
    violation = evidence_mark_forged(
        evidence=evidence, user=judge, severity="serious", note="截图被篡改", now=decided
    )
    appeal = appeal_file(
        user=owner.user,
        statement=f"{tag}-statement",
        judgment=judgment,
        files=[png(f"{tag}-appeal.png", "blue")],
        now=decided + timedelta(days=1),
    )
    notification = Notification.objects.create(
        store=store,
        ticket=ticket,
        kind="reminder",
        title=f"{tag}-notification",
        body="Reply before the deadline.",
        created_at=at,
    )
    reply_template = reply_template_create(
        store=store, user=owner.user, title=f"{tag}-phrase", text=f"{tag}-phrase-text"
    )
    return World(
        store=store,
        owner=owner,
        member=member,
        ticket=Ticket.objects.get(pk=ticket.pk),
        evidence=Evidence.objects.get(pk=evidence.pk),
        contact=contact,
        exemption=exemption,
        notification=notification,
        judgment=judgment,
        violation=violation,
        appeal=appeal,
        appeal_evidence=appeal.files.get(),
        reply_template=reply_template,
        markers=(
            ticket.number,
            ticket.consumer_name,
            store.name,
            store.code,
            f"{tag}staff",
            f"{tag}-note",
            f"{tag}-reason",
            f"{tag}-statement",
            f"{tag}-notification",
            f"{tag}-phrase",
            f"{tag}.png",
            # The live stream names tickets by id only.
            f'"ticket": {ticket.pk},',
        ),
    )


@dataclass
class Worlds:
    a: World
    b: World
    media: str


@pytest.fixture(scope="module")
def worlds(django_db_setup, django_db_blocker, tmp_path_factory):
    from config.celery import app

    media = str(tmp_path_factory.mktemp("cross-store-media"))
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media, LANGUAGE_CODE="en"),
        transaction.atomic(),
    ):
        yield Worlds(a=build_world("AAA"), b=build_world("ZZB"), media=media)
        transaction.set_rollback(True)
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, worlds):
    # Replaces conftest's fresh media directory per test: the evidence files were stored
    # once, and a missing file would be a 404 that hides a missing store check.
    settings.MEDIA_ROOT = worlds.media


@pytest.fixture(autouse=True)
def _short_live_stream(settings):
    settings.LIVE_STREAM_SECONDS = 0.2
    settings.LIVE_POLL_SECONDS = 0.05
    settings.LIVE_KEEPALIVE_SECONDS = 0.1


@pytest.fixture
def owner_a(client, worlds, db):
    client.force_login(worlds.a.owner.user)
    return client


def store_snapshot(world: World) -> dict:
    """Every row of the store that a dashboard request could change."""
    store = world.store
    return {
        "store": list(Store.objects.filter(pk=store.pk).values()),
        "memberships": list(Membership.objects.filter(store=store).order_by("pk").values()),
        "tickets": list(Ticket.objects.filter(store=store).order_by("pk").values()),
        "evidence": list(Evidence.objects.filter(ticket__store=store).order_by("pk").values()),
        "contacts": list(
            ContactAttempt.objects.filter(ticket__store=store).order_by("pk").values()
        ),
        "exemptions": list(
            ExemptionRequest.objects.filter(ticket__store=store).order_by("pk").values()
        ),
        "notifications": list(Notification.objects.filter(store=store).order_by("pk").values()),
        "judgments": list(Judgment.objects.filter(ticket__store=store).values()),
        "violations": list(Violation.objects.filter(store=store).order_by("pk").values()),
        "appeals": list(Appeal.objects.filter(store=store).order_by("pk").values()),
        "appeal_files": list(
            AppealEvidence.objects.filter(appeal__store=store).order_by("pk").values()
        ),
        "phrases": list(ReplyTemplate.objects.filter(store=store).order_by("pk").values()),
    }


def build_url(route: str, values: dict[str, World]) -> str:
    """The route with each keyword filled by the id of its object in the given world;
    fails the test for a keyword no object is mapped to."""

    def fill(match):
        name = match["name"]
        kind = kind_of(route, name)
        if kind is None:
            pytest.fail(
                f"URL {route!r}: no object is mapped to the keyword {name!r}. Add its object "
                "to build_world() and its name to NAME_KINDS (or the segment before it to "
                "SEGMENT_KINDS) in tests/test_cross_store_access.py.",
                pytrace=False,
            )
        return str(values[name].object(kind).pk)

    return "/" + CONVERTER.sub(fill, route)


def call(client, method: str, url: str, *, htmx: bool, query: dict, form: dict):
    extra = HTMX if htmx else {}
    if method == "GET":
        response = client.get(url, query, **extra)
    else:
        response = client.post(url, form, **extra)
    # A stream is read to its end, which closes it (the client's wrapper holds off the
    # receiver that would close the connection: this module's rows live in one transaction).
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body.decode(errors="replace")


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN)


def leaked(body: str, world: World) -> list[str]:
    return [marker for marker in world.markers if marker in body]


METHODS = ("GET", "POST")


def label(method: str, htmx: bool, url: str) -> str:
    return f"{method}{' (htmx)' if htmx else ''} {url}"


def object_cases():
    """(route, method, keywords that get store B's id) for every URL that names
    objects: all of them B's, and where there are several, each one alone."""
    for route, entry in ROUTES:
        names = kwarg_names(route)
        if not names:
            continue
        choices = [tuple(names)] + ([(name,) for name in names] if len(names) > 1 else [])
        for from_b in choices:
            for method in METHODS:
                yield pytest.param(
                    route,
                    method,
                    from_b,
                    id=f"{route_id(route, entry)}-{method}-B:{'+'.join(from_b)}",
                )


def plain_cases():
    for route, entry in ROUTES:
        if not kwarg_names(route):
            for method in METHODS:
                yield pytest.param(route, method, id=f"{route_id(route, entry)}-{method}")


def every_case():
    for route, entry in ROUTES:
        for method in METHODS:
            yield pytest.param(route, method, id=f"{route_id(route, entry)}-{method}")


# --- the list itself ------------------------------------------------------------------


def test_the_enumeration_finds_the_merchant_site_and_each_exclusion_is_still_needed():
    routes = [route for route, _ in merchant_routes()]
    # Each exclusion still matches something: a stale one would hide a future route.
    unused = [prefix for prefix in EXCLUDED if not any(r.startswith(prefix) for r in routes)]
    assert unused == []
    covered = [route for route, _ in ROUTES]
    for expected in ("", "tickets/<int:pk>/", "tickets/<int:pk>/evidence/<int:evidence_id>/"):
        assert expected in covered
    not_routes = [route for route, entry in ROUTES if not isinstance(entry.pattern, RoutePattern)]
    assert not_routes == [], "regex routes: give them path() converters this test can fill"


def test_every_url_keyword_names_a_mapped_object():
    unmapped = [
        f"{route} <{name}>"
        for route, _ in ROUTES
        for name in kwarg_names(route)
        if kind_of(route, name) is None
    ]
    assert unmapped == [], (
        "URL keywords with no object mapped (add them to NAME_KINDS / SEGMENT_KINDS and "
        f"build_world): {unmapped}"
    )


def test_an_unmapped_keyword_fails_the_test_by_name(worlds):
    # A new view under a path this file does not know yet: the test says what to add.
    route = "appeals/<int:pk>/files/<int:file_id>/"
    assert kind_of(route, "pk") == "appeal"
    with pytest.raises(pytest.fail.Exception, match="no object is mapped to the keyword 'file_id'"):
        build_url(route, {"pk": worlds.b, "file_id": worlds.b})


# --- store A's owner with store B's ids ------------------------------------------------


@pytest.mark.parametrize(("route", "method", "from_b"), list(object_cases()))
def test_another_stores_object_is_not_found(owner_a, worlds, route, method, from_b):
    # given: store A's owner, a URL naming store B's objects (some keywords may be A's)
    values = {name: worlds.b if name in from_b else worlds.a for name in kwarg_names(route)}
    url = build_url(route, values)
    assert resolve(url).route == route
    before = store_snapshot(worlds.b)
    problems = []
    for htmx in (False, True):
        # when
        response, body = call(
            owner_a, method, url, htmx=htmx, query=worlds.b.query(), form=worlds.b.form()
        )

        # then: not found (or the method refused, or the login), nothing shown
        status = response.status_code
        if not (status in (404, 405) or is_login_redirect(response)):
            problems.append(
                f"{label(method, htmx, url)} answered {status} {response.get('Location', '')}"
            )
        if leaked(body, worlds.b):
            problems.append(f"{label(method, htmx, url)} shows {leaked(body, worlds.b)}")
    assert not problems, "store A's owner reached store B's objects (must be a 404):\n" + (
        "\n".join(problems)
    )
    # and nothing of B changed
    assert store_snapshot(worlds.b) == before, f"{method} {url} changed store B's rows"


@pytest.mark.parametrize(("route", "method"), list(plain_cases()))
def test_a_page_without_ids_shows_nothing_of_another_store(owner_a, worlds, route, method):
    # given: store A's owner; store B's ids in the query string and the form
    url = "/" + route
    before = store_snapshot(worlds.b)
    problems = []
    for htmx in (False, True):
        # when
        response, body = call(
            owner_a, method, url, htmx=htmx, query=worlds.b.query(), form=worlds.b.form()
        )

        # then: whatever the answer (a page, a refusal, a redirect home), nothing of B
        status = response.status_code
        if status >= 500 or is_login_redirect(response):
            problems.append(f"{label(method, htmx, url)} answered {status}")
        if leaked(body, worlds.b):
            problems.append(
                f"{label(method, htmx, url)} answered {status} showing {leaked(body, worlds.b)}"
            )
    assert not problems, "a page without ids showed store B's data:\n" + "\n".join(problems)
    assert store_snapshot(worlds.b) == before, f"{method} {url} changed store B's rows"


def test_store_switch_to_another_store_is_not_found(owner_a, worlds):
    response = owner_a.post(reverse("store_switch"), {"store": worlds.b.store.pk})

    assert response.status_code == 404
    assert "xietong_store_id" not in owner_a.session


# --- control: the same URLs with store A's own ids -------------------------------------


@pytest.mark.parametrize(
    "route", [pytest.param(r, id=route_id(r, e)) for r, e in ROUTES if kwarg_names(r)]
)
def test_control_the_own_stores_objects_are_found(owner_a, worlds, route):
    """A 404 above must come from the store check: with A's own ids, the URL is found
    (a page, a file, a redirect after a POST, a form error), by GET or by POST."""
    url = build_url(route, dict.fromkeys(kwarg_names(route), worlds.a))
    statuses = {}
    for method in ("GET", "POST"):
        response, _ = call(
            owner_a, method, url, htmx=False, query=worlds.a.query(), form=worlds.a.form()
        )
        statuses[method] = response.status_code
    assert any(status not in (404, 405) and status < 500 for status in statuses.values()), (
        f"{url} with store A's own objects answered {statuses}"
    )


def test_control_store_a_pages_show_store_a(owner_a, worlds):
    """The leak check reads real pages: the same markers do show up for the own store."""
    _, inbox = call(owner_a, "GET", reverse("home"), htmx=False, query={"view": "all"}, form={})
    _, appeals = call(owner_a, "GET", reverse("appeals"), htmx=False, query={}, form={})
    _, live = call(owner_a, "GET", reverse("live_events"), htmx=False, query={"after": 0}, form={})

    assert worlds.a.ticket.number in inbox
    assert worlds.a.ticket.number in appeals
    assert f'"ticket": {worlds.a.ticket.pk},' in live


# --- anonymous -------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "method"), list(every_case()))
def test_anonymous_is_sent_to_the_login(client, worlds, db, route, method):
    # given: nobody logged in, a URL naming store A's real objects
    url = build_url(route, dict.fromkeys(kwarg_names(route), worlds.a))
    problems = []
    for htmx in (False, True):
        # when
        response, body = call(
            client, method, url, htmx=htmx, query=worlds.a.query(), form=worlds.a.form()
        )

        # then: the login (htmx: 204 and HX-Redirect, so the whole page goes there); a
        # 405 is the method refused before anything is read (require_POST/require_GET
        # come before the login check), with an empty body
        status = response.status_code
        if status == 405:
            ok = body == ""
        elif htmx:
            ok = status == 204 and response.get("HX-Redirect", "").startswith(LOGIN)
        else:
            ok = is_login_redirect(response)
        if not ok or leaked(body, worlds.a):
            problems.append(
                f"anonymous {label(method, htmx, url)} answered {status} "
                f"{response.get('Location', '')}{leaked(body, worlds.a)}"
            )
    assert not problems, "an anonymous visitor was not sent to the login:\n" + ("\n".join(problems))
