"""The nightly store-day reports as downloads: CSV (for Excel) and XLSX.

Both read the rows as tuples (``values_list``) in chunks, so a platform-wide export
of a year never builds a model instance per row. The ``day`` column is already an
Asia/Shanghai day (the batch cuts days at local midnight), so no time zone is applied
here and no time of day is written (SPEC.md, Zammad #2697: wrong times in exports).
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django import forms
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext, pgettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from merchants.models import Platform

from .models import StoreDayReport

ZH = "zh-hans"
EN = "en"
CHUNK_SIZE = 2000
# A year, leap day included: the longest period one download or page covers.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Column(NamedTuple):
    field: str
    zh: str
    en: str


# The headers are data in both languages, not gettext: the file's language is an
# argument (a download is often forwarded), not whatever language is active.
COLUMNS: list[Column] = [
    Column("store__code", "店铺编号", "Store code"),
    Column("store__name", "店铺名称", "Store name"),
    Column("store__platform", "平台", "Platform"),
    Column("day", "日期", "Day"),
    Column("received", "收到工单数", "Tickets received"),
    Column("replied_in_time", "按时回复", "Replied in time"),
    Column("replied_late", "超时后回复", "Replied late"),
    Column("timed_out", "超时", "Timed out"),
    Column("escalated", "升级平台介入", "Escalated"),
    Column("judged_liable", "判定商家责任", "Judged liable"),
    Column("judged_not_liable", "判定商家无责", "Judged not liable"),
    Column("compensated", "无忧购赔付", "Worry-free compensated"),
    Column("median_reply_seconds", "回复时长中位数（分钟）", "Median time to reply (minutes)"),
    Column("p90_reply_seconds", "回复时长P90（分钟）", "P90 time to reply (minutes)"),
    Column("violation_points", "违规扣分", "Violation points"),
    Column("fines", "罚款（元）", "Fines (CNY)"),
    Column("paid_orders_30d", "近30天支付订单数", "Paid orders, 30 days"),
    Column("liable_30d", "近30天判责数", "Liable judgments, 30 days"),
    Column("dispute_rate", "纠纷退款率（%）", "Dispute-refund rate (%)"),
]
FIELDS = [column.field for column in COLUMNS]

_MINUTE_FIELDS = {"median_reply_seconds", "p90_reply_seconds"}
_ONE_DECIMAL = Decimal("0.1")
_FOUR_DECIMALS = Decimal("0.0001")

# XLSX number formats by field; integers keep the default "General".
_XLSX_FORMATS = {
    "day": "yyyy-mm-dd",
    "median_reply_seconds": "0.0",
    "p90_reply_seconds": "0.0",
    "fines": "0.00",
    "dispute_rate": "0.0000",
}
# A cell starting with one of these is a formula to Excel (CSV injection, OWASP).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def export_language(language: str | None) -> str:
    """The file language for a Django language code: English for any "en…", else Chinese."""
    return EN if (language or "").lower().startswith("en") else ZH


def headers(language: str = ZH) -> list[str]:
    english = export_language(language) == EN
    return [column.en if english else column.zh for column in COLUMNS]


def seconds_to_minutes(seconds: int | None) -> Decimal | None:
    """Seconds as minutes with one decimal, half up (90 s → 1.5); None stays None."""
    if seconds is None:
        return None
    return (Decimal(seconds) / 60).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _values(rows: QuerySet[StoreDayReport], language: str) -> Iterator[list]:
    """Each row as typed values in COLUMNS order: minutes and percent as Decimals, the
    day as a date, the platform as its name in the file's language, NULL as None."""
    platform_index = FIELDS.index("store__platform")
    with translation.override(export_language(language)):
        platforms = {value: str(label) for value, label in Platform.choices}
    tuples = rows.values_list(*FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for row in tuples:
        values = list(row)
        values[platform_index] = platforms.get(values[platform_index], values[platform_index])
        for index, field in enumerate(FIELDS):
            if field in _MINUTE_FIELDS:
                values[index] = seconds_to_minutes(values[index])
            elif field == "dispute_rate" and values[index] is not None:
                values[index] = values[index].quantize(_FOUR_DECIMALS)
        yield values


def _text(value: str) -> str:
    # A store name like "=HYPERLINK(…)" must stay text when Excel opens the file.
    return f"'{value}" if value.startswith(_FORMULA_PREFIXES) else value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Fixed point, never "1E+1", whatever the value.
        return format(value, "f")
    if isinstance(value, str):
        return _text(value)
    return str(value)


def report_rows_csv(rows: QuerySet[StoreDayReport], *, language: str = ZH) -> bytes:
    """The rows as CSV, UTF-8 with a byte-order mark: without it Excel reads Chinese as
    the local code page and shows mojibake."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(language))
    for values in _values(rows, language):
        writer.writerow([_csv_cell(value) for value in values])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_row(sheet, values: Iterable, *, bold: Font | None = None) -> list[WriteOnlyCell]:
    cells = []
    for field, value in zip(FIELDS, values, strict=True):
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            # openpyxl turns any string starting with "=" into a formula: keep text text.
            cell.data_type = "s"
        if bold is not None:
            cell.font = bold
        elif field in _XLSX_FORMATS and value is not None:
            cell.number_format = _XLSX_FORMATS[field]
        cells.append(cell)
    return cells


def report_rows_xlsx(rows: QuerySet[StoreDayReport], *, language: str = ZH) -> bytes:
    """The rows as one XLSX sheet: bold header, numbers as numbers, the day as a date."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="报表" if export_language(language) == ZH else "Reports")
    sheet.freeze_panes = "A2"
    sheet.append(_xlsx_row(sheet, headers(language), bold=Font(bold=True)))
    for values in _values(rows, language):
        sheet.append(_xlsx_row(sheet, values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the period asked for ------------------------------------------------------------


def default_period(today: date) -> tuple[date, date]:
    """The last DEFAULT_PERIOD_DAYS Asia/Shanghai days up to yesterday: the batch writes
    a day at 02:00 the next morning, so today never has a row yet."""
    end = today - timedelta(days=1)
    return end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), end


class ReportPeriodForm(forms.Form):
    """From and to, both included, at most MAX_PERIOD_DAYS days."""

    start = forms.DateField(
        label=pgettext_lazy("period", "From"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=pgettext_lazy("period", "To"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("The end date is before the start date."))
            elif (end - start).days + 1 > MAX_PERIOD_DAYS:
                self.add_error(
                    "end",
                    gettext("A period covers at most %(days)d days.") % {"days": MAX_PERIOD_DAYS},
                )
        return data
