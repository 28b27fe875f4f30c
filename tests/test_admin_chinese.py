"""The staff admin, fully in Chinese: every registered admin's change list and change form
(and the index, each app's page, each add form and our own staff pages) rendered in
zh-hans shows no English from our own catalogue, no raw choice value and no
str(timedelta).

The admins come from ``admin.site._registry``, so a newly registered admin is covered
without editing this file; if the data below gives its change list no row, the test says
so (add the data here). Django's own admin strings are translated by Django; what this
catches is ours: a missing or fuzzy msgstr, a string never marked for translation (a
label that happens to be a msgid, such as a ForeignKey's automatic verbose_name
"ticket"), a choice shown as its value, a duration shown as ``1 day, 0:00:00``.
"""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from arbitration.models import Severity
from arbitration.penalties import settlement_close_month
from arbitration.reports import report_day
from arbitration.services.appeals import appeal_file
from arbitration.services.decisions import ticket_compensate, ticket_judge
from arbitration.services.findings import evidence_mark_forged
from audit.models import AuditEntry
from integration.models import Subscriber, WebhookAttempt
from merchants.models import DailyOrderVolume
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    make_evidence,
)
from tickets.models import (
    ContactChannel,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketKind,
    WorkingCalendar,
)
from tickets.services.contacts import contact_log
from tickets.services.exemptions import exemption_request
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_escalate, ticket_reply
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

CATALOGUE = settings.BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.fixture(autouse=True)
def _english_messages(settings):
    # Overrides tests/conftest.py's fixture of the same name: this module reads the
    # admin as platform staff do, in the site's default language.
    settings.LANGUAGE_CODE = "zh-hans"


# --- the catalogue ---------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def catalogue_entries(path=CATALOGUE) -> list[tuple[str, str]]:
    """(msgid, what Django shows for it) for every entry, plural forms included.

    A fuzzy entry is not compiled, so it shows its msgid: its msgstr counts as empty.
    """
    entries = []
    current: dict[str, str] = {}
    fuzzy = False
    key = None

    def flush():
        nonlocal current, fuzzy
        msgid = current.get("msgid", "")
        if msgid:
            shown = "" if fuzzy else (current.get("msgstr") or current.get("msgstr[0]", ""))
            entries.append((msgid, shown))
            if current.get("msgid_plural"):
                plural = "" if fuzzy else current.get("msgstr[0]", "")
                entries.append((current["msgid_plural"], plural))
        current, fuzzy = {}, False

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            key = None
        elif line.startswith("#,"):
            if current:
                flush()
            fuzzy = "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if key:
                current[key] += _unquote(line)
        else:
            key, _, value = line.partition(" ")
            if key == "msgctxt" and current.get("msgid"):
                flush()
            current[key] = _unquote(value)
    flush()
    return entries


PLACEHOLDER = re.compile(r"%%|%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%[-#0 +]*\d*(?:\.\d+)?[sdifr]")
_TOKENS = re.compile(f"({PLACEHOLDER.pattern})")


def _placeholder_regex(placeholder: str) -> str:
    if placeholder == "%%":
        return "%"  # a literal percent sign on the page
    if placeholder[-1] in "di":
        return r"-?\d+"
    if placeholder[-1] == "f":
        return r"-?[\d.]+"
    return r"\S(?:.{0,60}?\S)?"


def untranslated_patterns() -> dict[str, re.Pattern]:
    """A whole-phrase pattern per msgid that staff must never see as such: at least four
    characters and a Latin letter outside its placeholders, shown as something else."""
    patterns = {}
    for msgid, shown in catalogue_entries():
        if shown == msgid:
            continue
        phrase = " ".join(msgid.split())
        literal = PLACEHOLDER.sub("", phrase).strip()
        # Units glued to placeholders ("%(hours)dh %(minutes)02dm") are no phrase.
        if len(literal) < 4 or not re.search(r"[A-Za-z]{2}", literal):
            continue
        # A %s value can be anything: around one, a single word ("Ticket %(number)s")
        # would match wherever that word is, and the word alone is a msgid if it matters.
        loose = any(h[-1] in "sr" for h in PLACEHOLDER.findall(phrase) if h != "%%")
        if loose and len(re.findall(r"[A-Za-z]{2,}", literal)) < 2:
            continue
        regex = ""
        for index, piece in enumerate(_TOKENS.split(phrase)):
            if index % 2:
                regex += _placeholder_regex(piece)
            else:
                regex += r"\s+".join(re.escape(word) for word in piece.split(" "))
        # Whole words only, and not a segment of a path or URL ("/tickets/6/").
        start = r"(?<![A-Za-z0-9_/])" if re.match(r"\w", phrase) else ""
        end = r"(?![A-Za-z0-9_/])" if re.search(r"\w$", phrase) else ""
        patterns[phrase] = re.compile(start + regex + end, re.IGNORECASE | re.DOTALL)
    return patterns


def _choice_values() -> set[str]:
    """Every choice value of our models that differs from its label: a code like
    crc_high_risk or taobao must never reach the page."""
    from django.apps import apps

    values = set()
    for config in apps.get_app_configs():
        if config.name not in ("merchants", "tickets", "arbitration"):
            continue
        for model in config.get_models():
            for field in model._meta.get_fields():
                for value, label in getattr(field, "flatchoices", None) or []:
                    if isinstance(value, str) and len(value) >= 2 and value != str(label):
                        values.add(value)
    return values


RAW_DURATION = re.compile(r"\d+ days?, \d+:\d\d:\d\d|(?<![\d:])\d:\d\d:\d\d(?![\d:])")


def raw_values_pattern() -> re.Pattern:
    words = sorted(_choice_values() | {"opened", "escalated", "jd", "taobao", "tmall"})
    alternatives = "|".join(re.escape(word) for word in words)
    return re.compile(rf"(?<![\w\-./@])(?:{alternatives})(?![\w\-@])")


# --- what staff see on a page ------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a reader sees: no scripts or styles, no attribute values except the ones
    shown or read aloud as text (title, alt, placeholder, and a button's value).

    Text inside an element marked with another language (``lang="en"``: the English
    label of a reply option, kept for the English dashboard) is English on purpose, and
    ``<code>`` holds identifiers (a delivery's key, a role group's name), not words."""

    HIDDEN = {"script", "style", "template", "code"}
    SHOWN_ATTRIBUTES = {"title", "alt", "placeholder"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    VOID |= {"source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, text inside is not shown as ours)

    @property
    def skipping(self) -> bool:
        return any(skip for _tag, skip in self.open)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        lang = values.get("lang") or ""
        foreign = bool(lang) and not lang.lower().startswith("zh")
        if tag not in self.VOID:
            self.open.append((tag, tag in self.HIDDEN or foreign))
        if self.skipping or foreign:
            return
        for name, value in attrs:
            if name in self.SHOWN_ATTRIBUTES and value:
                self.parts.append(value)
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            self.parts.append(values.get("value") or "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str | bytes) -> str:
    parser = VisibleText()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def offenders(text: str, patterns: dict[str, re.Pattern], raw: re.Pattern) -> list[str]:
    found = []
    lowered = text.lower()
    for msgid, pattern in patterns.items():
        # A plain substring test first: the regex runs only where the longest word is.
        word = max(PLACEHOLDER.sub(" ", msgid).split(), key=len).lower()
        if word in lowered and (match := pattern.search(text)):
            found.append(f"msgid {msgid!r} shown as {match.group(0)!r}")
    for match in raw.finditer(text):
        context = text[max(match.start() - 30, 0) : match.end() + 30]
        found.append(f"raw value {match.group(0)!r} in …{context}…")
    for match in RAW_DURATION.finditer(text):
        found.append(f"raw duration {match.group(0)!r}")
    return found


# --- data: a row for every change list ---------------------------------------------------


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="pingtai", email="pingtai@example.com", password="pw-12345-xietong"
    )


@pytest.fixture
def zh_client(client, superuser):
    client.force_login(superuser)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    return client


def _member(store, username):
    return MembershipFactory(store=store, user=UserFactory(username=username)).user


@pytest.fixture
def admin_data(superuser):
    """Something in every list, made through the services the way production makes it."""
    t0 = TUESDAY_10_SHANGHAI
    # The seeded JD calendar is named in English ("JD working hours 09:00–19:00"): that is
    # data ops rename, not a message of ours (its seed should be Chinese: reported).
    WorkingCalendar.objects.update(name="京东工作日历 09:00–19:00")
    taobao = StoreFactory(name="淘宝旗舰店", after_sales_email="shouhou@example.com")
    tmall = StoreFactory(name="天猫专营店", platform="tmall")
    jd = StoreFactory(jd=True, name="京东自营店", after_sales_email="jdkefu@example.com")
    taobao_owner = _member(taobao, "dianzhu")
    jd_owner = _member(jd, "jingdong")
    _member(tmall, "tianmao")

    # Open, through the intake service: reminders and the "opened" event.
    ticket_open(
        store=taobao, number="TB-100001", order_number="880001", summary="买家催发货", now=t0
    )
    # Replied after a counting contact attempt.
    replied = TicketFactory(number="TB-100002", store=taobao)
    contact_log(
        ticket=replied,
        user=taobao_owner,
        channel=ContactChannel.PHONE,
        attempted_at=t0 + timedelta(minutes=30),
        now=t0 + timedelta(minutes=31),
    )
    ticket_reply(
        ticket=replied,
        user=taobao_owner,
        option=ReplyOption.objects.get(platform="taobao", code="settled"),
        agreed_at=t0 + timedelta(minutes=30),
        now=t0 + timedelta(hours=1),
    )
    # Escalated at the deadline, forged evidence found, judged liable, then appealed.
    judged = TicketFactory(number="TB-100003", store=taobao)
    evidence = make_evidence(judged, name="聊天记录.png")
    judged = ticket_escalate(ticket=judged, user=None, now=judged.due_at)
    violation = evidence_mark_forged(
        evidence=evidence,
        user=superuser,
        severity=Severity.GENERAL,
        note="截图经过编辑",
        now=judged.due_at,
    )
    judgment = ticket_judge(
        ticket=judged,
        user=superuser,
        merchant_liable=True,
        refund_amount=Decimal("59.90"),
        reasoning="商家未按约定时间发货",
        now=judged.due_at + timedelta(hours=1),
    )
    appeal_file(
        user=taobao_owner,
        statement="物流延误，非商家原因",
        judgment=judgment,
        now=judgment.judged_at + timedelta(days=1),
    )
    appeal_file(
        user=taobao_owner,
        statement="凭证为真实聊天截图",
        violation=violation,
        now=violation.found_at + timedelta(days=1),
    )
    # Worry-free: compensated.
    worry_free = TicketFactory(number="TM-200001", store=tmall, worry_free=True)
    worry_free = ticket_escalate(ticket=worry_free, user=None, now=worry_free.due_at)
    ticket_compensate(ticket=worry_free, user=superuser, amount="20", now=worry_free.due_at)
    # JD: a CRC ticket with an exemption request, and one that timed out (a penalty).
    crc = TicketFactory(number="JD-300001", store=jd, kind=TicketKind.CRC_HIGH_RISK)
    exemption = exemption_request(
        ticket=crc, user=jd_owner, reason="店铺停电", minutes=120, now=t0 + timedelta(minutes=5)
    )
    late = TicketFactory(number="JD-300002", store=jd)
    ticket_escalate(ticket=late, user=None, now=late.due_at)
    # Paid orders, the day's report (which writes the penalty ledger), the month's settlement.
    DailyOrderVolume.objects.create(
        store=jd, date=date(2026, 11, 24), paid_orders=120, paid_amount=Decimal("5000")
    )
    report_day(day=date(2026, 11, 25), now=t0 + timedelta(days=2))
    settlement_close_month(month=date(2026, 11, 1), now=datetime(2026, 12, 2, tzinfo=UTC))
    # The intake API's token for the platform CS system, expiring in 90 days.
    api_token_create(user=superuser, name="平台客服系统", expires_at=t0 + timedelta(days=90))
    # A staff change in the audit trail (written by the audit middleware in production).
    AuditEntry.objects.create(
        at=t0,
        actor=superuser,
        actor_label=superuser.get_username(),
        via="admin",
        method="POST",
        path="/admin/tickets/ticket/1/change/",
        object_type="tickets.ticket",
        object_id="1",
        status_code=302,
        outcome="done",
        what={"changes": [{"field": "assignee", "old": "#7", "new": "dianzhu (#9)"}]},
    )
    # A webhook subscriber of the CS system, paused after failing, and one delivery of its
    # log (written by integration.services.delivery in production).
    subscriber = Subscriber.objects.create(
        name="平台客服系统",
        url="https://cs.example.com/xietong/webhook",
        event_types=["ticket.opened", "ticket.escalated"],
        consecutive_failures=8,
        paused_at=t0,
        pause_reason="连续 8 次投递失败后已暂停",
        created_at=t0,
    )
    event = TicketEvent.objects.filter(action="opened").first()
    WebhookAttempt.objects.create(
        subscriber=subscriber,
        event=event,
        event_type="ticket.opened",
        attempt=1,
        status_code=503,
        error="HTTP 503",
        duration_ms=120,
        request_body="{}",
        sent_at=t0,
    )
    return {"exemption": exemption}


# --- the test ------------------------------------------------------------------------------


def _url(model_admin, view: str, *args) -> str | None:
    opts = model_admin.model._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def test_every_admin_page_is_in_chinese(zh_client, superuser, admin_data):
    patterns = untranslated_patterns()
    raw = raw_values_pattern()
    request = RequestFactory().get("/admin/")
    request.user = superuser
    problems: dict[str, list[str]] = {}
    missing_rows = []

    def check(url: str) -> None:
        response = zh_client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        assert response["Content-Language"] == "zh-hans", url
        found = offenders(visible_text(response.content.decode()), patterns, raw)
        if found:
            problems[url] = found

    check(reverse("admin:index"))
    for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
        check(reverse("admin:app_list", args=[app_label]))

    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0].__name__):
        changelist = _url(model_admin, "changelist")
        response = zh_client.get(changelist)
        assert response.status_code == 200, changelist
        found = offenders(visible_text(response.content.decode()), patterns, raw)
        if found:
            problems[changelist] = found
        rows = list(response.context["cl"].result_list)
        if not rows:
            missing_rows.append(model._meta.label)
            continue
        if model_admin.has_view_or_change_permission(request, rows[0]):
            check(_url(model_admin, "change", rows[0].pk))
        if model_admin.has_add_permission(request):
            check(_url(model_admin, "add"))

    # Our own staff pages drawn with templates/admin/ (escalate, decide an exemption,
    # download the day reports).
    ticket = Ticket.objects.get(number="TB-100001")
    check(reverse("admin:tickets_ticket_escalate", args=[ticket.pk]))
    check(reverse("admin:tickets_exemptionrequest_decide", args=[admin_data["exemption"].pk]))
    check(reverse("admin:arbitration_storedayreport_download"))

    assert not missing_rows, f"No row in these change lists: add data to admin_data: {missing_rows}"
    report = "\n".join(f"{url}\n  " + "\n  ".join(found) for url, found in problems.items())
    assert not problems, f"English or raw codes in the zh-hans admin:\n{report}"


def test_admin_frame_says_xietong_ticket_administration(zh_client):
    text = visible_text(zh_client.get(reverse("admin:index")).content.decode())
    # site_title in <title>, site_header in the header, index_title over the app list.
    assert text.count("协同工单管理") >= 3
    assert "Django" not in text


def test_ticket_times_are_shown_in_shanghai_time(zh_client):
    # 02:00 UTC is 10:00 in Asia/Shanghai.
    TicketFactory(number="TB-TZ-1", created_at=datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    response = zh_client.get(reverse("admin:tickets_ticket_changelist"))
    text = visible_text(response.content.decode())
    assert "2026年11月24日 10:00" in text
    assert "02:00" not in text


def test_durations_weekdays_and_event_details_are_words(zh_client, admin_data):
    policies = visible_text(zh_client.get(reverse("admin:tickets_policy_changelist")).content)
    # The seeded windows and reminders: 24 calendar hours (12 h and 2 h before due), JD
    # CRC 4 working hours (1 working hour before due).
    assert "24 小时" in policies and "12 小时、2 小时" in policies
    assert "4 个工作小时" in policies and "1 个工作小时" in policies
    calendars = visible_text(
        zh_client.get(reverse("admin:tickets_workingcalendar_changelist")).content
    )
    assert "每天" in calendars and "[0, 1" not in calendars
    judged = Ticket.objects.get(number="TB-100003")
    page = visible_text(
        zh_client.get(reverse("admin:tickets_ticket_change", args=[judged.pk])).content
    )
    assert "退款金额（元）：59.90" in page and "商家责任：是" in page
    assert "违规等级：一般违规" in page and '{"' not in page
    exemption = admin_data["exemption"].ticket
    page = visible_text(
        zh_client.get(reverse("admin:tickets_ticket_change", args=[exemption.pk])).content
    )
    assert "延长时间：2 个工作小时" in page  # 120 minutes on the CRC working clock


def test_the_checker_finds_what_it_should():
    """The checker itself: an untranslated msgid as a whole phrase, raw codes and a
    str(timedelta) are found; Chinese and words that merely contain a msgid are not."""
    patterns = {
        "platform ticket number": re.compile(
            r"(?<![A-Za-z0-9_])platform\s+ticket\s+number(?![A-Za-z0-9_])", re.I
        )
    }
    raw = raw_values_pattern()
    text = visible_text(
        "<h1 title='Platform ticket number'>平台工单号</h1><script>var a = 'jd';</script>"
        "<td>taobao</td><td>1 day, 0:00:00</td><td class='opened'>已升级 escalated</td>"
        "<td><span lang='en'>Platform ticket number <b>jd</b></span></td>"
    )
    found = offenders(text, patterns, raw)
    assert any("platform ticket number" in item for item in found)
    assert any("'taobao'" in item for item in found)
    assert any("'escalated'" in item for item in found)
    assert any("1 day, 0:00:00" in item for item in found)
    assert not any("'jd'" in item or "'opened'" in item for item in found)
    assert offenders(visible_text("<p>平台工单号 JD-300001 淘宝</p>"), patterns, raw) == []
    # Every entry of the real catalogue parses into a pattern.
    assert len(untranslated_patterns()) > 0
    assert any(msgid == "platform ticket number" for msgid, _ in catalogue_entries())


def test_every_change_list_builds_its_rows_as_django_does(zh_client, admin_data):
    """config/admin_list.py builds change-list rows column by column for speed; every
    registered change list, with data, must come out exactly as Django's own
    ``items_for_result`` makes it (links, classes, choices, booleans, empty values)."""
    from django.contrib.admin.templatetags import admin_list

    from config.admin_list import fast_result_list

    compared = 0
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0].__name__):
        response = zh_client.get(_url(model_admin, "changelist"))
        cl = response.context["cl"]
        # The page went through our change_list.html (the one that calls fast_result_list).
        ours = [t for t in response.templates if t.name == "admin/change_list.html"]
        assert str(settings.BASE_DIR / "templates") in ours[0].origin.name, model
        theirs = admin_list.result_list(cl)
        fast = fast_result_list(cl)
        assert [list(map(str, row)) for row in fast["results"]] == [
            list(map(str, row)) for row in theirs["results"]
        ], model._meta.label
        assert fast["num_sorted_fields"] == theirs["num_sorted_fields"]
        compared += len(cl.result_list)
    assert compared >= len(admin.site._registry)
