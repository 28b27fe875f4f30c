"""Paid-order volume import (the dispute-refund rate's denominator): service, command, admin."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from merchants import imports
from merchants.imports import OrderVolumeImportError, order_volumes_import
from merchants.models import DailyOrderVolume
from tests.factories import StoreFactory, UserFactory, staff_user

pytestmark = pytest.mark.django_db

# 01:00 on 25 Nov in Asia/Shanghai, still 24 Nov in UTC: "the future" is Shanghai's.
NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"
ZH_HEADER = "店铺编码,日期,支付订单数,支付金额\r\n"


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def stores():
    return StoreFactory(code="TB001"), StoreFactory(code="TB002")


@pytest.fixture
def existing(stores):
    """A day already imported, which a refused file must leave as it is."""
    return DailyOrderVolume.objects.create(
        store=stores[0], date=date(2026, 11, 20), paid_orders=5, paid_amount=Decimal("50.00")
    )


def table():
    return sorted(
        DailyOrderVolume.objects.values_list("store__code", "date", "paid_orders", "paid_amount")
    )


def zh_csv(*lines: str, bom: bool = True) -> bytes:
    return (BOM if bom else b"") + (ZH_HEADER + "".join(f"{line}\r\n" for line in lines)).encode()


def refused(data, **kwargs) -> OrderVolumeImportError:
    with pytest.raises(OrderVolumeImportError) as caught:
        order_volumes_import(file=data, **kwargs)
    return caught.value


# --- accepted files ----------------------------------------------------------------------


def test_chinese_headers_with_bom_create_rows(stores):
    data = zh_csv("TB001,2026-11-23,120,3456.70", "TB002,2026-11-23,8,99", "TB001,2026-11-24,0,0")

    result = order_volumes_import(file=io.BytesIO(data))

    assert (result.created, result.updated, result.total) == (3, 0, 3)
    assert table() == [
        ("TB001", date(2026, 11, 23), 120, Decimal("3456.70")),
        ("TB001", date(2026, 11, 24), 0, Decimal("0.00")),
        ("TB002", date(2026, 11, 23), 8, Decimal("99.00")),
    ]


def test_english_headers_without_bom_slash_dates_and_no_amount_column(stores):
    # Excel on Chinese Windows shows dates as 2026/11/5; the amount column may be left out.
    data = b"store_code,date,paid_orders\nTB001,2026/11/5,7\n TB002 , 2026-11-25 , 9 \n"

    result = order_volumes_import(file=data)

    assert (result.created, result.updated) == (2, 0)
    assert table() == [
        ("TB001", date(2026, 11, 5), 7, Decimal("0.00")),
        # 25 Nov is today in Shanghai although UTC is still on the 24th.
        ("TB002", date(2026, 11, 25), 9, Decimal("0.00")),
    ]


def test_gb18030_file_from_excel_on_chinese_windows(stores):
    text = "店铺编码,日期,支付订单数,支付金额,店铺名称\r\nTB001,2026-11-23,3,12.5,淘宝一店\r\n"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = order_volumes_import(file=io.BytesIO(data))

    assert result.created == 1
    assert table() == [("TB001", date(2026, 11, 23), 3, Decimal("12.50"))]


def test_text_file_object_and_extra_columns(stores):
    data = io.StringIO(
        "\ufeffNote,Store_Code,Date,Paid_Orders,Paid_Amount\nx,TB002,2026-11-01,4,1\n"
    )

    assert order_volumes_import(file=data).created == 1
    assert table() == [("TB002", date(2026, 11, 1), 4, Decimal("1.00"))]


def test_reimport_updates_existing_days_without_duplicating(stores, existing):
    order_volumes_import(file=zh_csv("TB001,2026-11-21,10,100", "TB002,2026-11-21,20,200"))

    result = order_volumes_import(
        file=zh_csv("TB001,2026-11-20,6,60", "TB001,2026-11-21,11,110", "TB002,2026-11-22,1,1")
    )

    assert (result.created, result.updated) == (1, 2)
    assert table() == [
        ("TB001", date(2026, 11, 20), 6, Decimal("60.00")),
        ("TB001", date(2026, 11, 21), 11, Decimal("110.00")),
        ("TB002", date(2026, 11, 21), 20, Decimal("200.00")),
        ("TB002", date(2026, 11, 22), 1, Decimal("1.00")),
    ]


def test_blank_lines_are_skipped_but_keep_the_file_row_numbers(stores):
    error = refused(zh_csv("TB001,2026-11-20,1,1", "", ",,,", "TB001,2026-11-21,x,1"))

    assert [(e.row, e.column, e.code) for e in error.row_errors] == [
        (5, "支付订单数", "bad_paid_orders")
    ]


# --- refused files: the error names the row, and nothing is written -------------------------

VALID = "TB001,2026-11-20,99,990"  # would update `existing` if anything were written


@pytest.mark.parametrize(
    ("line", "column", "code", "text"),
    [
        ("TB999,2026-11-21,1,1", "店铺编码", "unknown_store", "Unknown store code “TB999”."),
        (",2026-11-21,1,1", "店铺编码", "required", "This value is required."),
        ("TB002,2026-13-01,1,1", "日期", "bad_date", "“2026-13-01” is not a date"),
        ("TB002,2026-02-30,1,1", "日期", "bad_date", "is not a date"),
        ("TB002,20261121,1,1", "日期", "bad_date", "is not a date"),
        ("TB002,2026-11/21,1,1", "日期", "bad_date", "is not a date"),
        ("TB002,,1,1", "日期", "required", "This value is required."),
        ("TB002,2026-11-26,1,1", "日期", "future_date", "2026-11-26 is in the future"),
        ("TB002,2026-11-21,-1,1", "支付订单数", "bad_paid_orders", "not a whole number of 0"),
        ("TB002,2026-11-21,1.5,1", "支付订单数", "bad_paid_orders", "not a whole number"),
        ("TB002,2026-11-21,abc,1", "支付订单数", "bad_paid_orders", "not a whole number"),
        ("TB002,2026-11-21,99999999999,1", "支付订单数", "bad_paid_orders", "too large"),
        ("TB002,2026-11-21,,1", "支付订单数", "required", "This value is required."),
        ("TB002,2026-11-21,1,-3", "支付金额", "bad_paid_amount", "not an amount of 0 or more"),
        ("TB002,2026-11-21,1,1.234", "支付金额", "bad_paid_amount", "at most 2 decimal places"),
        ("TB002,2026-11-21,1,¥5", "支付金额", "bad_paid_amount", "not an amount"),
        ("TB002,2026-11-21,1,1000000000000", "支付金额", "bad_paid_amount", "too large"),
        ("TB001,2026-11-20,1,1", "日期", "duplicate_row", "Store TB001, 2026-11-20 is already"),
    ],
)
def test_a_bad_row_is_reported_with_its_row_number_and_nothing_is_written(
    existing, line, column, code, text
):
    before = table()

    error = refused(zh_csv(VALID, line, "TB002,2026-11-19,3,3"))

    assert [(e.row, e.column, e.code) for e in error.row_errors] == [(3, column, code)]
    assert text in error.row_errors[0].message
    assert error.messages == [f"Row 3, {column}: {error.row_errors[0].message}"]
    assert table() == before


def test_every_bad_row_is_reported_in_file_order(existing):
    before = table()
    data = zh_csv(
        "TB999,2026-11-21,x,1",  # row 2: store and count
        VALID,  # row 3
        "TB002,2026-11-31,1,1.001",  # row 4: date and amount
        "TB001,2026-11-20,1,1",  # row 5: same store and day as row 3
    )

    error = refused(data)

    assert [(e.row, e.column, e.code) for e in error.row_errors] == [
        (2, "店铺编码", "unknown_store"),
        (2, "支付订单数", "bad_paid_orders"),
        (4, "日期", "bad_date"),
        (4, "支付金额", "bad_paid_amount"),
        (5, "日期", "duplicate_row"),
    ]
    assert "row 3" in error.row_errors[-1].message
    assert len(error.messages) == 5
    assert table() == before


@pytest.mark.parametrize(
    ("data", "row", "code", "text"),
    [
        (b"", None, "empty_file", "The file is empty."),
        (BOM + b"\r\n,,,\r\n", None, "empty_file", "The file is empty."),
        (zh_csv(), None, "empty_file", "no data rows"),
        (
            b"store_code,date,paid_amount\nTB001,2026-11-20,1\n",
            1,
            "missing_column",
            "The required column 支付订单数 (paid_orders) is missing.",
        ),
        (
            "店铺编码,日期,支付订单数,paid_orders\nTB001,2026-11-20,1,1\n".encode(),
            1,
            "duplicate_column",
            "appears twice",
        ),
        (zh_csv("TB001," + "x" * 200_000 + ",1,1"), 2, "bad_csv", "This is not valid CSV"),
        (
            "店铺编码,日期,支付订单数\nTB001,2026-11-20,1\n".encode("utf-16"),
            None,
            "bad_encoding",
            "neither UTF-8 nor GB18030",
        ),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_written(existing, data, row, code, text):
    before = table()

    error = refused(data)

    assert [(e.row, e.code) for e in error.row_errors] == [(row, code)]
    assert text in error.messages[0]
    assert table() == before


def test_more_than_the_row_limit_is_refused(existing, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    before = table()
    ok = zh_csv(VALID, "TB002,2026-11-19,1,1", "TB002,2026-11-18,1,1")
    assert order_volumes_import(file=ok).total == 3
    before = table()

    error = refused(ok + b"TB002,2026-11-17,1,1\r\n")

    assert [(e.row, e.code) for e in error.row_errors] == [(5, "too_many_rows")]
    assert "more than 3 data rows" in error.messages[0]
    assert table() == before


def test_an_oversized_file_is_refused(existing, monkeypatch):
    monkeypatch.setattr(imports, "MAX_BYTES", 40)
    before = table()

    error = refused(io.BytesIO(zh_csv(VALID, "TB002,2026-11-19,1,1")))

    assert [e.code for e in error.row_errors] == ["too_large"]
    assert table() == before


def test_without_replace_an_existing_day_is_refused(existing):
    before = table()

    error = refused(zh_csv("TB002,2026-11-20,1,1", VALID), replace=False)

    assert [(e.row, e.column, e.code) for e in error.row_errors] == [(3, "日期", "exists")]
    assert table() == before
    # New days only: accepted.
    result = order_volumes_import(file=zh_csv("TB002,2026-11-20,1,1"), replace=False)
    assert (result.created, result.updated) == (1, 0)


def test_query_count_does_not_grow_with_rows(stores, django_assert_max_num_queries):
    def file_of(days: int) -> bytes:
        lines = [
            f"{store.code},{(NOW - timedelta(days=day)).date().isoformat()},{day},{day}.5"
            for store in stores
            for day in range(1, days // 2 + 1)
        ]
        return zh_csv(*lines)

    # Half of each file's days exist already, so both INSERT and UPDATE paths run.
    order_volumes_import(file=file_of(24))
    # Expected: SELECT stores; SELECT existing days; SAVEPOINT; INSERT … ON CONFLICT DO
    # UPDATE (one batch); RELEASE SAVEPOINT.
    with django_assert_max_num_queries(5) as ten:
        assert order_volumes_import(file=file_of(10)).total == 10
    with django_assert_max_num_queries(5) as fifty:
        result = order_volumes_import(file=file_of(50))
    assert (result.created, result.updated) == (26, 24)
    assert len(fifty.captured_queries) == len(ten.captured_queries)


# --- management command ----------------------------------------------------------------


def test_command_imports_and_prints_the_counts(stores, existing, tmp_path):
    path = tmp_path / "volumes.csv"
    path.write_bytes(zh_csv(VALID, "TB002,2026-11-19,3,3"))
    out = io.StringIO()

    call_command("import_order_volumes", str(path), stdout=out)

    assert "2 row(s) imported: created=1 updated=1" in out.getvalue()
    assert DailyOrderVolume.objects.get(pk=existing.pk).paid_orders == 99


def test_command_prints_each_error_and_fails_writing_nothing(existing, tmp_path):
    path = tmp_path / "volumes.csv"
    path.write_bytes(zh_csv(VALID, "TB999,2026-11-19,3,3", "TB002,2026-11-99,3,3"))
    before = table()
    err = io.StringIO()

    with pytest.raises(CommandError, match="2 error\\(s\\); nothing was imported"):
        call_command("import_order_volumes", str(path), stderr=err)

    assert err.getvalue().splitlines() == [
        "Row 3, 店铺编码: Unknown store code “TB999”.",
        "Row 4, 日期: “2026-11-99” is not a date as YYYY-MM-DD (or YYYY/MM/DD).",
    ]
    assert table() == before


def test_command_no_replace_and_missing_file(existing, tmp_path):
    path = tmp_path / "volumes.csv"
    path.write_bytes(zh_csv(VALID))

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_order_volumes", str(path), "--no-replace", stderr=io.StringIO())
    with pytest.raises(CommandError, match="missing.csv"):
        call_command("import_order_volumes", str(tmp_path / "missing.csv"))
    assert DailyOrderVolume.objects.get(pk=existing.pk).paid_orders == 5


# --- admin -------------------------------------------------------------------------------

IMPORT_URL = "admin:merchants_dailyordervolume_import"


@pytest.fixture
def ops_client(client):
    client.force_login(staff_user("ops"))
    return client


def upload(data: bytes, **fields):
    return {"file": SimpleUploadedFile("volumes.csv", data, content_type="text/csv"), **fields}


def test_changelist_has_the_import_button(ops_client):
    response = ops_client.get(reverse("admin:merchants_dailyordervolume_changelist"))

    assert response.status_code == 200
    assert reverse(IMPORT_URL) in response.content.decode()


def test_import_page_shows_the_form_and_template_link(ops_client):
    response = ops_client.get(reverse(IMPORT_URL))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in body
    assert 'name="replace"' in body
    assert reverse("admin:merchants_dailyordervolume_import_template") in body


def test_template_download_has_the_chinese_headers(ops_client):
    response = ops_client.get(reverse("admin:merchants_dailyordervolume_import_template"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert response.content == BOM + "店铺编码,日期,支付订单数,支付金额\r\n".encode()
    # The template itself is a file the import reads (and refuses only for having no rows).
    assert [e.code for e in refused(response.content).row_errors] == ["empty_file"]


def test_admin_upload_imports_and_says_how_many(ops_client, existing):
    data = zh_csv(VALID, "TB002,2026-11-19,3,3")

    response = ops_client.post(reverse(IMPORT_URL), upload(data, replace="on"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:merchants_dailyordervolume_changelist")
    assert "Imported 2 rows: 1 created, 1 updated." in response.content.decode()
    assert DailyOrderVolume.objects.get(pk=existing.pk).paid_orders == 99
    assert DailyOrderVolume.objects.count() == 2


def test_admin_upload_with_errors_shows_them_and_writes_nothing(ops_client, existing):
    before = table()

    response = ops_client.post(
        reverse(IMPORT_URL),
        upload(zh_csv(VALID, "TB999,2026-11-19,3,3", "TB002,2026-11-26,3,3"), replace="on"),
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "The file has 2 errors; nothing was imported." in body
    assert 'id="import-errors"' in body
    assert "<td>3</td><td>店铺编码</td><td>Unknown store code “TB999”.</td>" in body
    assert "<td>4</td><td>日期</td>" in body
    assert table() == before


def test_admin_without_the_change_permission_cannot_overwrite(client, existing):
    user = UserFactory(username="importer", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="merchants", codename="add_dailyordervolume")
    )
    client.force_login(user)
    before = table()

    page = client.get(reverse(IMPORT_URL))
    response = client.post(reverse(IMPORT_URL), upload(zh_csv(VALID), replace="on"))

    assert 'name="replace"' not in page.content.decode()
    assert "already has paid orders for 2026-11-20" in response.content.decode()
    assert table() == before


def test_staff_without_the_add_permission_get_403(client, existing):
    client.force_login(staff_user("cs_agent"))
    before = table()

    assert client.get(reverse(IMPORT_URL)).status_code == 403
    response = client.post(reverse(IMPORT_URL), upload(zh_csv(VALID), replace="on"))
    assert response.status_code == 403
    template_url = reverse("admin:merchants_dailyordervolume_import_template")
    assert client.get(template_url).status_code == 403
    assert table() == before
