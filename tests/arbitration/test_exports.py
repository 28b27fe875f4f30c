"""Downloads of the nightly store-day reports: the files, the merchants' page and the
ops' platform-wide download in the admin."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import arbitration.admin_reports  # noqa: F401  (registered from arbitration/admin.py)
from arbitration.exports import COLUMNS, report_rows_csv, report_rows_xlsx
from arbitration.models import StoreDayReport
from arbitration.report_selectors import platform_reports, store_reports
from merchants.models import Platform
from tests.factories import MembershipFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

# Tuesday 2026-11-24 10:00 Asia/Shanghai: the default period is the 30 days up to
# yesterday, 2026-10-25 to 2026-11-23 (the batch writes a day the next morning).
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
YESTERDAY = date(2026, 11, 23)
DEFAULT_START = date(2026, 10, 25)

ZH_HEADERS = [column.zh for column in COLUMNS]
EN_HEADERS = [column.en for column in COLUMNS]
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def day_report(store, day: date, **figures) -> StoreDayReport:
    """A row as the nightly batch would write it (tests write them directly)."""
    return StoreDayReport.objects.create(store=store, day=day, computed_at=NOW, **figures)


def days_of(store, first: date, count: int) -> list[StoreDayReport]:
    return [day_report(store, first + timedelta(days=i), received=i + 1) for i in range(count)]


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    return list(sheet.iter_rows(values_only=True))


@pytest.fixture
def store():
    return StoreFactory(code="TB-A", name="甲店", platform=Platform.TAOBAO)


@pytest.fixture
def full_row(store) -> StoreDayReport:
    """A hand-made row with every column filled in, and rounding to check."""
    return day_report(
        store,
        date(2026, 11, 20),
        received=12,
        replied_in_time=9,
        replied_late=2,
        timed_out=1,
        escalated=3,
        judged_liable=2,
        judged_not_liable=1,
        compensated=1,
        median_reply_seconds=754,  # 12.566… min
        p90_reply_seconds=3_603,  # 60.05 min: half up
        violation_points=12,
        fines=Decimal("50.00"),
        paid_orders_30d=1_500,
        liable_30d=7,
        dispute_rate=Decimal("0.4667"),
    )


# --- the files --------------------------------------------------------------------------


def test_csv_has_a_bom_and_chinese_headers_by_default(full_row):
    content = report_rows_csv(StoreDayReport.objects.all())

    # Excel needs the byte-order mark to read UTF-8 Chinese.
    assert content.startswith(b"\xef\xbb\xbf")
    header, *rows = csv_rows(content)
    assert header == ZH_HEADERS
    assert header[:4] == ["店铺编号", "店铺名称", "平台", "日期"]
    assert len(rows) == 1


def test_csv_headers_in_english_on_request(full_row):
    header, row = csv_rows(report_rows_csv(StoreDayReport.objects.all(), language="en"))

    assert header == EN_HEADERS
    assert "Median time to reply (minutes)" in header
    assert "Dispute-refund rate (%)" in header
    assert row[2] == "Taobao"


def test_csv_values_of_a_hand_made_row(full_row):
    _, row = csv_rows(report_rows_csv(StoreDayReport.objects.all()))

    assert dict(zip(ZH_HEADERS, row, strict=True)) == {
        "店铺编号": "TB-A",
        "店铺名称": "甲店",
        "平台": "淘宝",
        "日期": "2026-11-20",
        "收到工单数": "12",
        "按时回复": "9",
        "超时后回复": "2",
        "超时": "1",
        "升级平台介入": "3",
        "判定商家责任": "2",
        "判定商家无责": "1",
        "无忧购赔付": "1",
        "回复时长中位数（分钟）": "12.6",
        "回复时长P90（分钟）": "60.1",
        "违规扣分": "12",
        "罚款（元）": "50.00",
        "近30天支付订单数": "1500",
        "近30天判责数": "7",
        "纠纷退款率（%）": "0.4667",
    }


def test_csv_leaves_missing_figures_empty(store):
    # No reply that day (no median), no paid orders in 30 days (no rate).
    day_report(store, date(2026, 11, 20), dispute_rate=None)

    _, row = csv_rows(report_rows_csv(StoreDayReport.objects.all(), language="en"))
    values = dict(zip(EN_HEADERS, row, strict=True))

    assert values["Median time to reply (minutes)"] == ""
    assert values["P90 time to reply (minutes)"] == ""
    assert values["Dispute-refund rate (%)"] == ""
    assert values["Tickets received"] == "0"
    assert values["Fines (CNY)"] == "0.00"


def test_text_that_looks_like_a_formula_stays_text():
    evil = StoreFactory(name='=HYPERLINK("http://x")')
    day_report(evil, date(2026, 11, 20))
    rows = StoreDayReport.objects.all()

    assert csv_rows(report_rows_csv(rows))[1][1] == '\'=HYPERLINK("http://x")'
    sheet = openpyxl.load_workbook(io.BytesIO(report_rows_xlsx(rows))).worksheets[0]
    assert sheet["B2"].data_type == "s"
    assert sheet["B2"].value == '=HYPERLINK("http://x")'


def test_xlsx_opens_with_a_bold_header_numbers_and_a_date(full_row, store):
    day_report(store, date(2026, 11, 21), dispute_rate=None)

    content = report_rows_xlsx(StoreDayReport.objects.order_by("day"))

    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    assert [cell.value for cell in sheet[1]] == ZH_HEADERS
    assert all(cell.font.b for cell in sheet[1])
    first = dict(zip(ZH_HEADERS, (cell.value for cell in sheet[2]), strict=True))
    # A date cell (openpyxl reads Excel dates back as midnight datetimes), not text.
    assert first["日期"] == datetime(2026, 11, 20, 0, 0)
    assert sheet["D2"].is_date and sheet["D2"].number_format == "yyyy-mm-dd"
    assert first["收到工单数"] == 12
    assert first["回复时长中位数（分钟）"] == pytest.approx(12.6)
    assert first["回复时长P90（分钟）"] == pytest.approx(60.1)
    assert first["罚款（元）"] == 50
    assert first["纠纷退款率（%）"] == pytest.approx(0.4667)
    assert first["平台"] == "淘宝"
    second = dict(zip(ZH_HEADERS, (cell.value for cell in sheet[3]), strict=True))
    assert second["纠纷退款率（%）"] is None
    assert second["回复时长中位数（分钟）"] is None


def test_xlsx_headers_in_english_on_request(full_row):
    header, row = xlsx_rows(report_rows_xlsx(StoreDayReport.objects.all(), language="en"))
    assert list(header) == EN_HEADERS
    assert row[2] == "Taobao"


# --- the selectors ----------------------------------------------------------------------


def test_selectors_order_by_day_then_store_code_and_filter_the_platform(
    django_assert_num_queries,
):
    # given: two stores on two platforms, created in the "wrong" order
    b = StoreFactory(code="B-1", platform=Platform.JD, jd=True)
    a = StoreFactory(code="A-1", platform=Platform.TAOBAO)
    for store in (b, a):
        days_of(store, date(2026, 11, 1), 2)
    day_report(a, date(2026, 10, 31))  # before the period

    # then: day, then store code; the store comes with the row (one query)
    with django_assert_num_queries(1):
        rows = [
            (r.day.day, r.store.code)
            for r in platform_reports(start=date(2026, 11, 1), end=date(2026, 11, 2))
        ]
    assert rows == [(1, "A-1"), (1, "B-1"), (2, "A-1"), (2, "B-1")]
    jd_only = platform_reports(start=date(2026, 11, 1), end=date(2026, 11, 2), platform="jd")
    assert {r.store.code for r in jd_only} == {"B-1"}
    mine = store_reports(store=a, start=date(2026, 10, 31), end=date(2026, 11, 1))
    assert [(r.day.day, r.store.code) for r in mine] == [(31, "A-1"), (1, "A-1")]


# --- the merchants' page and downloads --------------------------------------------------


@pytest.fixture
def member(client, store):
    membership = MembershipFactory(store=store)
    client.force_login(membership.user)
    return membership


@pytest.fixture
def other_store():
    """Store B, with rows on the same days: they must never reach store A's member."""
    other = StoreFactory(code="TB-B", name="乙店", platform=Platform.TAOBAO)
    days_of(other, DEFAULT_START, 30)
    return other


def period(start: date, end: date) -> dict:
    return {"start": start.isoformat(), "end": end.isoformat()}


def test_page_shows_the_last_30_days_of_the_current_store_only(client, member, other_store):
    # given: store A's 30 default days, plus today (not yet complete) and one day too early
    days_of(member.store, DEFAULT_START, 30)
    day_report(member.store, YESTERDAY + timedelta(days=1), received=99)
    day_report(member.store, DEFAULT_START - timedelta(days=1), received=98)

    # when
    response = client.get(reverse("reports"))

    # then
    assert response.status_code == 200
    rows = [row.report for row in response.context["rows"]]
    assert len(rows) == 30
    assert {r.store_id for r in rows} == {member.store.pk}
    assert (rows[0].day, rows[-1].day) == (DEFAULT_START, YESTERDAY)
    body = response.content.decode()
    assert 'data-day="2026-11-23"' in body and 'data-day="2026-11-24"' not in body
    csv_link = reverse("reports_download_csv") + "?start=2026-10-25&amp;end=2026-11-23"
    assert csv_link in body
    assert reverse("reports_download_xlsx") + "?start=2026-10-25&amp;end=2026-11-23" in body
    assert f'href="{reverse("reports")}" aria-current="page"' in body


def test_page_for_a_chosen_period(client, member):
    days_of(member.store, date(2026, 1, 1), 10)

    response = client.get(reverse("reports"), period(date(2026, 1, 3), date(2026, 1, 4)))

    assert response.status_code == 200
    assert [row.report.day for row in response.context["rows"]] == [
        date(2026, 1, 3),
        date(2026, 1, 4),
    ]


def test_csv_download_holds_only_the_current_stores_rows(client, member, other_store):
    days_of(member.store, DEFAULT_START, 3)

    # A store parameter is not a thing: it is ignored.
    response = client.get(
        reverse("reports_download_csv"),
        {**period(DEFAULT_START, YESTERDAY), "store": other_store.pk},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="xietong-TB-A-20261025-20261123.csv"'
    )
    assert "no-store" in response["Cache-Control"]
    _, *rows = csv_rows(response.content)
    assert [row[0] for row in rows] == ["TB-A"] * 3
    assert "TB-B" not in response.content.decode("utf-8-sig")


def test_xlsx_download_holds_only_the_current_stores_rows(client, member, other_store):
    days_of(member.store, DEFAULT_START, 3)

    response = client.get(reverse("reports_download_xlsx"), period(DEFAULT_START, YESTERDAY))

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == (
        'attachment; filename="xietong-TB-A-20261025-20261123.xlsx"'
    )
    _, *rows = xlsx_rows(response.content)
    assert [(row[0], row[3].date()) for row in rows] == [
        ("TB-A", DEFAULT_START + timedelta(days=i)) for i in range(3)
    ]


def test_a_member_of_two_stores_gets_the_store_picked_in_the_switcher(client, store):
    # given: one user in stores A and B, with B picked in the switcher
    user = UserFactory()
    MembershipFactory(user=user, store=store)
    other = StoreFactory(code="TB-C")
    MembershipFactory(user=user, store=other)
    days_of(store, DEFAULT_START, 2)
    days_of(other, DEFAULT_START, 4)
    client.force_login(user)
    client.post(reverse("store_switch"), {"store": other.pk})

    # when
    response = client.get(reverse("reports_download_csv"))

    # then
    _, *rows = csv_rows(response.content)
    assert {row[0] for row in rows} == {"TB-C"} and len(rows) == 4


def test_download_headers_follow_the_request_language(client, member, settings):
    days_of(member.store, DEFAULT_START, 1)
    url = reverse("reports_download_csv")

    # The project's default language is Chinese (the test settings switch it to English).
    settings.LANGUAGE_CODE = "zh-hans"
    assert csv_rows(client.get(url).content)[0] == ZH_HEADERS
    assert csv_rows(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content)[0] == EN_HEADERS
    settings.LANGUAGE_CODE = "en"
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert csv_rows(chinese.content)[0] == ZH_HEADERS


@pytest.mark.parametrize("name", ["reports", "reports_download_csv", "reports_download_xlsx"])
def test_anonymous_goes_to_the_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-11-10", "2026-11-01", "The end date is before the start date."),
        ("2024-01-01", "2025-01-01", "A period covers at most 366 days."),  # 367 days
        ("2026-13-01", "2026-11-01", "Enter a valid date."),
        ("", "2026-11-01", "This field is required."),
    ],
)
@pytest.mark.parametrize("name", ["reports", "reports_download_csv", "reports_download_xlsx"])
def test_a_bad_period_is_refused_with_the_reason(client, member, name, start, end, message):
    day_report(member.store, date(2026, 11, 1))

    response = client.get(reverse(name), {"start": start, "end": end})

    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert response["Content-Type"].startswith("text/html")
    assert message in response.content.decode()
    assert response.context["rows"] == []


def test_a_period_of_366_days_is_allowed(client, member):
    # 2024 is a leap year: 2024-01-01 to 2024-12-31 is 366 days.
    day_report(member.store, date(2024, 12, 31))
    response = client.get(reverse("reports"), period(date(2024, 1, 1), date(2024, 12, 31)))
    assert response.status_code == 200
    assert len(response.context["rows"]) == 1


def test_download_query_count_does_not_grow_with_rows(client, member, other_store):
    url = reverse("reports_download_csv")
    params = period(DEFAULT_START, YESTERDAY)
    days_of(member.store, DEFAULT_START, 5)
    # session, user, memberships with their store, the rows with their store.
    with CaptureQueriesContext(connection) as five:
        response = client.get(url, params)
    assert len(csv_rows(response.content)) == 1 + 5

    days_of(member.store, DEFAULT_START + timedelta(days=5), 15)
    with CaptureQueriesContext(connection) as twenty:
        response = client.get(url, params)
    assert len(csv_rows(response.content)) == 1 + 20
    assert len(twenty.captured_queries) == len(five.captured_queries) == 4


# --- ops in the admin -------------------------------------------------------------------

ADMIN_DOWNLOAD = "admin:arbitration_storedayreport_download"
ADMIN_LIST = "admin:arbitration_storedayreport_changelist"


@pytest.fixture
def ops_client(client):
    user = UserFactory(username="ops-reports", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="arbitration", codename="view_storedayreport"
        )
    )
    client.force_login(user)
    return client


@pytest.fixture
def two_platforms():
    taobao = StoreFactory(code="TB-1", platform=Platform.TAOBAO)
    jd = StoreFactory(code="JD-1", jd=True)
    for store in (taobao, jd):
        days_of(store, date(2026, 11, 1), 3)
    return taobao, jd


def test_admin_download_is_platform_wide(ops_client, two_platforms):
    response = ops_client.get(
        reverse(ADMIN_DOWNLOAD),
        {"start": "2026-11-01", "end": "2026-11-02", "platform": "", "format": "csv"},
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="xietong-all-20261101-20261102.csv"'
    )
    header, *rows = csv_rows(response.content)
    assert header == EN_HEADERS  # the admin's language (English in the test settings)
    assert [(row[0], row[3]) for row in rows] == [
        ("JD-1", "2026-11-01"),
        ("TB-1", "2026-11-01"),
        ("JD-1", "2026-11-02"),
        ("TB-1", "2026-11-02"),
    ]


def test_admin_download_of_one_platform_as_xlsx(ops_client, two_platforms):
    response = ops_client.get(
        reverse(ADMIN_DOWNLOAD),
        {"start": "2026-11-01", "end": "2026-11-03", "platform": "jd", "format": "xlsx"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    _, *rows = xlsx_rows(response.content)
    assert [row[0] for row in rows] == ["JD-1"] * 3
    assert rows[0][3] == datetime(2026, 11, 1, 0, 0)


def test_admin_download_form_and_its_errors(ops_client):
    page = ops_client.get(reverse(ADMIN_DOWNLOAD))
    assert page.status_code == 200
    assert page.context["form"].initial["start"] == DEFAULT_START
    assert 'value="2026-11-23"' in page.content.decode()

    refused = ops_client.get(
        reverse(ADMIN_DOWNLOAD), {"start": "2025-01-01", "end": "2026-06-01", "format": "csv"}
    )
    assert refused.status_code == 400
    assert "Content-Disposition" not in refused
    assert "A period covers at most 366 days." in refused.content.decode()


def test_admin_download_needs_the_view_permission(client, two_platforms):
    client.force_login(UserFactory(username="staff-without", is_staff=True))
    params = {"start": "2026-11-01", "end": "2026-11-02", "format": "csv"}
    assert client.get(reverse(ADMIN_DOWNLOAD), params).status_code == 403
    assert client.get(reverse(ADMIN_DOWNLOAD)).status_code == 403


def test_admin_download_is_for_staff_only(client, two_platforms):
    client.force_login(MembershipFactory(store=two_platforms[0]).user)
    response = client.get(reverse(ADMIN_DOWNLOAD), {"start": "2026-11-01", "end": "2026-11-02"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_superuser_may_download(client, two_platforms):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    params = {"start": "2026-11-01", "end": "2026-11-01", "format": "csv"}
    response = client.get(reverse(ADMIN_DOWNLOAD), params)
    assert response.status_code == 200
    assert len(csv_rows(response.content)) == 1 + 2


def test_admin_list_is_read_only_and_links_the_download(ops_client, two_platforms):
    response = ops_client.get(reverse(ADMIN_LIST))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 6
    body = response.content.decode()
    assert reverse(ADMIN_DOWNLOAD) in body and "Download platform-wide" in body
    assert ops_client.get(reverse("admin:arbitration_storedayreport_add")).status_code == 403
    row = StoreDayReport.objects.first()
    change = ops_client.post(
        reverse("admin:arbitration_storedayreport_change", args=[row.pk]), {"received": 99}
    )
    assert change.status_code == 403
    row.refresh_from_db()
    assert row.received != 99


def test_admin_list_filters_and_search(ops_client, two_platforms):
    url = reverse(ADMIN_LIST)
    by_platform = ops_client.get(url, {"store__platform__exact": "jd"})
    assert {r.store.code for r in by_platform.context["cl"].result_list} == {"JD-1"}
    by_code = ops_client.get(url, {"q": "TB-1"})
    assert {r.store.code for r in by_code.context["cl"].result_list} == {"TB-1"}
    by_day = ops_client.get(url, {"day__year": "2026", "day__month": "11", "day__day": "2"})
    assert len(by_day.context["cl"].result_list) == 2
