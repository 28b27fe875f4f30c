"""The merchant side of appeals (申诉): the decisions box on the ticket page (the 申诉
button and its deadline, or why not, or the appeal's state), the appeal form (htmx and
plain posts, every refusal inline and nothing written), store scoping, and the store's
appeals list, each page in a fixed number of queries."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import Appeal, AppealEvidence, AppealState, Judgment
from arbitration.services.appeals import appeal_decide, appeal_file, appeal_opening, appeal_openings
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tickets.models import TicketEvent
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
HTMX = {"HTTP_HX_REQUEST": "true"}
T0 = TUESDAY_10_SHANGHAI  # ticket created Tue 10:00 Beijing time; 24 h policy: due Wed 10:00
DECIDED_AT = T0 + timedelta(days=2)  # Thu 2026-11-26 10:00 Beijing time
NOW = DECIDED_AT + timedelta(days=1)  # the page is read a day later
DEADLINE_TEXT = "2026-12-03 10:00"  # 7 days (the default window) after the decision
REASONING = "商家未举证"
NOTE = "截图时间被篡改"
STATEMENT = "我们已在时限内联系买家，聊天记录为证"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def member(client):
    membership = MembershipFactory(role="after_sales")  # any member may appeal
    client.force_login(membership.user)
    return membership


def escalated(store, **kwargs):
    ticket = TicketFactory(store=store, **kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judge(ticket, *, liable=True, at=DECIDED_AT):
    return ticket_judge(
        ticket=ticket,
        user=staff_user("arbitrator", "judge-1"),
        merchant_liable=liable,
        refund_amount="59.90",
        reasoning=REASONING,
        now=at,
    )


def forge(ticket, name="chat.png", content=PNG):
    return evidence_mark_forged(
        evidence=make_evidence(ticket, name=name, content=content),
        user=staff_user("arbitrator", "judge-1"),
        severity="serious",
        note=NOTE,
        now=DECIDED_AT,
    )


def appeal(decision, user, *, files=(), statement=STATEMENT):
    key = "judgment" if isinstance(decision, Judgment) else "violation"
    return appeal_file(
        user=user, statement=statement, files=list(files), now=NOW, **{key: decision}
    )


def png(name="聊天记录.png", content=PNG):
    return SimpleUploadedFile(name, content, content_type="image/png")


def page(client, ticket) -> str:
    response = client.get(reverse("ticket_detail", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


def box(html: str) -> str:
    """The decisions box of a page or partial."""
    start = html.index('id="decisions"')
    return html[start : html.index("</section>", start)]


def appeal_url(ticket, key="") -> str:
    url = reverse("ticket_appeal", args=[ticket.pk])
    return f"{url}?decision={key}" if key else url


def visible_text(markup: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", " ", markup).split())


def stored_appeal_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file() and "appeals" in p.parts]


# --- the decisions box on the ticket page ---------------------------------------------


def test_a_liable_judgment_offers_the_appeal_button_with_its_deadline(client, member):
    judgment = judge(escalated(member.store))
    html = box(page(client, judgment.ticket))
    assert "The merchant is liable" in html and "59.90 CNY" in html
    assert f"The platform's reasoning: {REASONING}" in html
    assert "2026-11-26 10:00" in html  # when it was judged, Beijing time
    # The button is a link to the form (no JavaScript needed) that htmx opens in place.
    assert f'href="{appeal_url(judgment.ticket, f"judgment-{judgment.pk}")}"' in html
    assert 'hx-target="#decisions"' in html
    assert f"Appeal by {DEADLINE_TEXT} (Beijing time)" in html


def test_a_forged_evidence_finding_offers_the_appeal_button(client, member):
    violation = forge(escalated(member.store), name="截图.png")
    html = box(page(client, violation.ticket))
    assert "截图.png" in html and "48 violation points on the store" in html
    assert f"The platform's reasoning: {NOTE}" in html
    assert f"?decision=finding-{violation.pk}" in html
    assert f"Appeal by {DEADLINE_TEXT} (Beijing time)" in html


def test_a_judgment_not_against_the_store_has_no_appeal_button(client, member):
    judgment = judge(escalated(member.store), liable=False)
    html = box(page(client, judgment.ticket))
    assert "The merchant is not liable" in html
    assert "The judgment is not against the store." in html
    assert "?decision=" not in html and "Appeal by" not in html


def test_after_seven_days_the_window_is_closed(client, member):
    judgment = judge(escalated(member.store))
    with time_machine.travel(DECIDED_AT + timedelta(days=7, minutes=1), tick=False):
        html = box(page(client, judgment.ticket))
    assert f"The appeal window closed at {DEADLINE_TEXT} (Beijing time)." in html
    assert "?decision=" not in html


def test_the_last_minute_of_the_window_still_offers_the_button(client, member):
    judgment = judge(escalated(member.store))
    with time_machine.travel(DECIDED_AT + timedelta(days=7), tick=False):
        html = box(page(client, judgment.ticket))
    assert f"?decision=judgment-{judgment.pk}" in html


def test_a_ticket_with_no_decision_has_no_decisions_box(client, member):
    ticket = escalated(member.store)
    assert 'id="decisions"' not in page(client, ticket)


def test_a_filed_appeal_shows_its_state_then_the_platforms_reasoning(client, member):
    judgment = judge(escalated(member.store))
    filed = appeal(judgment, member.user, files=[png("记录.png")])

    html = box(page(client, judgment.ticket))
    assert "Waiting for a decision" in html
    assert f"Appealed by {member.user.get_username()} at 2026-11-27 10:00" in html
    assert STATEMENT in html and "记录.png" in html
    assert "?decision=" not in html  # once per decision

    appeal_decide(
        appeal=filed, user=staff_user("arbitrator", "judge-2"), overturn=False, reasoning="证据不足"
    )
    html = box(page(client, judgment.ticket))
    assert "Upheld" in html and "The platform's reasoning: 证据不足" in html


def test_an_overturned_finding_says_so(client, member):
    violation = forge(escalated(member.store))
    filed = appeal(violation, member.user)
    appeal_decide(
        appeal=filed, user=staff_user("arbitrator", "judge-2"), overturn=True, reasoning="时间正常"
    )
    html = box(page(client, violation.ticket))
    assert html.count("Overturned") == 2  # on the finding, and as the appeal's state
    assert "The platform's reasoning: 时间正常" in html


# --- the form -------------------------------------------------------------------------


def test_the_appeal_button_opens_the_form_in_the_box_or_on_its_own_page(client, member):
    judgment = judge(escalated(member.store))
    url = appeal_url(judgment.ticket, f"judgment-{judgment.pk}")

    partial = client.get(url, **HTMX).content.decode()
    assert "<html" not in partial and 'id="decisions"' in partial
    assert (
        'enctype="multipart/form-data"' in partial
        and 'hx-encoding="multipart/form-data"' in partial
    )
    assert '<textarea name="statement"' in partial
    assert 'type="file" name="files"' in partial and "multiple" in partial
    assert f'name="decision" value="judgment-{judgment.pk}"' in partial
    assert 'for="appeal_statement"' in partial and "Why the decision is wrong" in partial

    whole = client.get(url).content.decode()
    assert "<html" in whole and '<textarea name="statement"' in whole
    assert f"Appeal a decision on ticket {judgment.ticket.number}" in whole


def test_cancel_closes_the_form(client, member):
    judgment = judge(escalated(member.store))
    url = appeal_url(judgment.ticket)
    partial = client.get(url, **HTMX).content.decode()
    assert "<textarea" not in partial and f"?decision=judgment-{judgment.pk}" in partial
    response = client.get(url)
    assert response.status_code == 302
    assert (
        response["Location"] == reverse("ticket_detail", args=[judgment.ticket.pk]) + "#decisions"
    )


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_posting_an_appeal_files_it(client, member, settings, htmx):
    judgment = judge(escalated(member.store))
    response = client.post(
        appeal_url(judgment.ticket),
        {"decision": f"judgment-{judgment.pk}", "statement": STATEMENT, "files": [png()]},
        **(HTMX if htmx else {}),
    )

    filed = Appeal.objects.get()
    assert (filed.judgment, filed.state, filed.statement, filed.filed_by) == (
        judgment,
        AppealState.FILED,
        STATEMENT,
        member.user,
    )
    (item,) = filed.files.all()
    assert item.original_name == "聊天记录.png"
    assert len(stored_appeal_files(settings)) == 1
    if htmx:
        html = response.content.decode()
        assert response.status_code == 200 and "<html" not in html
        assert "Waiting for a decision" in box(html) and "<textarea" not in html
    else:
        assert response.status_code == 302
        assert response["Location"] == (
            reverse("ticket_detail", args=[judgment.ticket.pk]) + "#decisions"
        )


def test_posting_an_appeal_of_a_finding_files_it(client, member):
    violation = forge(escalated(member.store))
    client.post(
        appeal_url(violation.ticket),
        {"decision": f"finding-{violation.pk}", "statement": STATEMENT},
        **HTMX,
    )
    assert Appeal.objects.get().violation == violation


REFUSALS = {
    # case: what the box says (each under its field's label where it has one)
    "empty": "Why the decision is wrong: Say why the decision is wrong.",
    "late": "The appeal window has closed.",
    "twice": "This decision has been appealed.",
    "disguised": "New evidence (optional): Only images, PDF, audio recordings and plain text "
    "or CSV are accepted.",
}


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_show_inline_and_write_nothing(client, member, settings, case, htmx):
    judgment = judge(escalated(member.store))
    data = {"decision": f"judgment-{judgment.pk}", "statement": STATEMENT, "files": [png()]}
    if case == "empty":
        data["statement"] = "   "
    if case == "disguised":
        data["files"] = [png("照片.png", b"<html><script>alert(1)</script></html>")]
    if case == "twice":
        appeal(judgment, member.user)
    before = (Appeal.objects.count(), AppealEvidence.objects.count(), TicketEvent.objects.count())
    files_before = stored_appeal_files(settings)

    with time_machine.travel(DECIDED_AT + timedelta(days=8) if case == "late" else NOW, tick=False):
        response = client.post(appeal_url(judgment.ticket), data, **(HTMX if htmx else {}))

    assert response.status_code == 200
    html = response.content.decode()
    assert ("<html" in html) is not htmx  # plain posts get the form's own page back
    alert = html[html.index('role="alert"') :]
    assert REFUSALS[case] in visible_text(alert[: alert.index("</div>")])
    after = (Appeal.objects.count(), AppealEvidence.objects.count(), TicketEvent.objects.count())
    assert after == before
    assert stored_appeal_files(settings) == files_before
    if case in ("empty", "disguised"):
        # Still open: the form is there again with what was typed, asking for the files again.
        assert '<textarea name="statement"' in html
        assert "choose them again" in html
        if case == "disguised":
            assert STATEMENT in html
    if case == "twice":
        assert "Waiting for a decision" in box(html)  # the appeal that was already there


def test_another_stores_ticket_or_decision_is_404(client, member):
    theirs = judge(escalated(StoreFactory()))
    key = f"judgment-{theirs.pk}"
    assert client.get(appeal_url(theirs.ticket, key)).status_code == 404
    data = {"decision": key, "statement": STATEMENT}
    assert client.post(appeal_url(theirs.ticket), data, **HTMX).status_code == 404
    # Their decision named on our own ticket, or a decision that does not exist.
    ours = judge(escalated(member.store))
    assert client.post(appeal_url(ours.ticket), data).status_code == 404
    assert client.get(appeal_url(ours.ticket, "judgment-999999")).status_code == 404
    assert client.get(appeal_url(ours.ticket, "nonsense")).status_code == 404
    assert not Appeal.objects.exists()


def test_the_appeal_url_takes_get_and_post_only(client, member):
    judgment = judge(escalated(member.store))
    assert client.put(appeal_url(judgment.ticket)).status_code == 405


# --- the store's appeals list ---------------------------------------------------------


def test_the_appeals_list_shows_the_stores_appeals_only(client, member):
    judgment = judge(escalated(member.store, number="OURS-1"))
    violation = forge(escalated(member.store, number="OURS-2"), name="发货单.png")
    appeal(judgment, member.user)
    decided = appeal(violation, member.user)
    appeal_decide(
        appeal=decided,
        user=staff_user("arbitrator", "judge-2"),
        overturn=True,
        reasoning="时间正常",
    )
    other = MembershipFactory()
    appeal(judge(escalated(other.store, number="THEIRS-1")), other.user)

    html = client.get(reverse("appeals")).content.decode()
    assert "OURS-1" in html and "OURS-2" in html and "THEIRS-1" not in html
    assert reverse("ticket_detail", args=[judgment.ticket.pk]) in html
    assert "Judgment: liable, refund 59.90 CNY" in html
    assert "Forged evidence: 发货单.png, 48 points" in html
    assert "Waiting for a decision" in html and "Overturned" in html and "时间正常" in html
    assert 'aria-current="page"' in html  # the nav link marks the page


def test_the_appeals_list_paginates(client, member):
    for i in range(21):
        appeal(judge(escalated(member.store, number=f"P-{i:02d}")), member.user)
    Appeal.objects.filter(ticket__number="P-00").update(filed_at=NOW - timedelta(hours=1))
    first = client.get(reverse("appeals")).content.decode()
    second = client.get(reverse("appeals"), {"page": 2}).content.decode()
    assert "P-00" not in first and "P-00" in second  # oldest last
    assert "Page 2 of 2" in second


def test_the_appeals_list_query_count_is_fixed(client, member, django_assert_max_num_queries):
    def add(n, start):
        for i in range(start, start + n):
            appeal(judge(escalated(member.store)), member.user)
            appeal(forge(escalated(member.store), content=PNG + bytes([i])), member.user)

    add(2, 0)  # N-1 = 2 of each kind
    # session, user, memberships, the appeals' count, the page of appeals (each with its
    # ticket and decision, the finding's file included): 5, whatever the rows
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("appeals"))
    add(1, 2)  # N = 3 of each kind
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(reverse("appeals")).content.decode()
    assert html.count("data-appeal=") == 6


# --- the ticket page stays in a fixed number of queries -------------------------------


def test_the_ticket_page_query_count_is_fixed_with_decisions_and_appeals(
    client, member, django_assert_max_num_queries
):
    ticket = escalated(member.store)
    judgment = judge(ticket)
    appeal(judgment, member.user, files=[png()])

    def add(n, start):
        for i in range(start, start + n):
            forge(ticket, name=f"open-{i}.png", content=PNG + bytes([i]))  # left appealable
            appealed = forge(ticket, name=f"appealed-{i}.png", content=PNG + bytes([100 + i]))
            appeal(appealed, member.user, files=[png(f"new-{i}.png", PNG + bytes([200 + i]))])

    add(1, 0)
    # The page's own, plus 4: the judgment with its appeal, the findings with theirs and
    # their files, the appeals' new files, the platform's appeal window (read once).
    with CaptureQueriesContext(connection) as few:
        page(client, ticket)
    add(3, 1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = page(client, ticket)
    assert html.count('class="button primary"') == 4 and "new-3.png" in html


# --- the page's openings are appeal_opening's -----------------------------------------


def test_the_boxs_openings_are_the_services(member):
    ticket = escalated(member.store)
    liable = judge(ticket)
    not_liable = judge(escalated(member.store), liable=False)
    appealed = forge(ticket, name="a.png", content=PNG + b"a")
    appeal(appealed, member.user)
    overturned = forge(ticket, name="b.png", content=PNG + b"b")
    appeal_decide(
        appeal=appeal(overturned, member.user),
        user=staff_user("arbitrator", "judge-2"),
        overturn=True,
        reasoning="时间正常",
    )
    fresh = forge(ticket, name="c.png", content=PNG + b"c")
    # Overturned with no appeal in the way, so the overturn check itself is reached.
    bare = forge(ticket, name="d.png", content=PNG + b"d")
    type(bare).objects.filter(pk=bare.pk).update(overturned_at=NOW)
    decisions = [
        type(d).objects.get(pk=d.pk)
        for d in (liable, not_liable, appealed, overturned, fresh, bare)
    ]
    for now in (NOW, DECIDED_AT + timedelta(days=7), DECIDED_AT + timedelta(days=7, seconds=1)):
        page_openings = appeal_openings(decisions=decisions, now=now)
        assert page_openings == [appeal_opening(decision=d, now=now) for d in decisions]
    reasons = {o.reason for o in page_openings}
    assert len(reasons) == 4  # every branch was taken: not liable, appealed, overturned, closed
