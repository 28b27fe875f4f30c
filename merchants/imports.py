"""Imports of data that arrives as files: paid-order volumes per store and day.

Paid orders are the denominator of the dispute-refund rate (SPEC.md "Metrics and
nightly reports"); ops import them from a CSV, usually exported from Excel.

``order_volumes_import`` is all-or-nothing: every row is checked first, and if any
row is wrong it raises ``OrderVolumeImportError`` and writes nothing.

``OrderVolumeImportError`` is a ``ValidationError`` whose ``messages`` are one line
per problem ("Row 3, 日期: …"), so any caller can show it as it shows other service
refusals. It also keeps the problems as data in ``row_errors``: a list of
``RowError(row, column, message, code)``, where ``row`` is the row number as a
spreadsheet shows it (the header is row 1; None for a whole-file problem) and
``column`` the column header as written in the file ("" when no one column is at fault).
"""

import contextlib
import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .clock import SHANGHAI
from .models import DailyOrderVolume, Store

MAX_ROWS = 200_000
# 200,000 rows of a 64-character store code and large numbers stay far below this.
MAX_BYTES = 64 * 1024 * 1024
BATCH_SIZE = 1000
# Above this many distinct values, read the whole (small) table in one query instead of
# an IN list that could pass SQLite's bound-parameter limit.
IN_LIST_LIMIT = 500
MAX_PAID_ORDERS = 2_147_483_647  # PositiveIntegerField, on every database
MAX_AMOUNT = Decimal("1e12")  # DecimalField(max_digits=14, decimal_places=2)

_DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})")
_COUNT = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


@dataclass(frozen=True)
class Column:
    key: str  # the English header
    zh: str  # the Chinese header, as in the downloadable template
    required: bool = True


COLUMNS = (
    Column("store_code", "店铺编码"),
    Column("date", "日期"),
    Column("paid_orders", "支付订单数"),
    Column("paid_amount", "支付金额", required=False),
)
TEMPLATE_HEADER = [column.zh for column in COLUMNS]
_ALIASES = {alias: column for column in COLUMNS for alias in (column.key, column.zh)}


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str
    message: str
    code: str

    def __str__(self) -> str:
        if self.row is None:
            return self.message
        if not self.column:
            return _("Row %(row)d: %(message)s") % {"row": self.row, "message": self.message}
        return _("Row %(row)d, %(column)s: %(message)s") % {
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


class OrderVolumeImportError(ValidationError):
    """The file was refused and nothing was written; ``row_errors`` says why, row by row."""

    def __init__(self, row_errors: list[RowError]):
        self.row_errors = list(row_errors)
        super().__init__([ValidationError(str(error), code=error.code) for error in row_errors])


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int

    @property
    def total(self) -> int:
        return self.created + self.updated


@dataclass
class _Row:
    number: int
    code: str
    day: date | None
    paid_orders: int | None
    paid_amount: Decimal | None


def order_volumes_import(*, file, replace: bool = True) -> ImportResult:
    """Create or update one DailyOrderVolume per (store, date) row of a CSV file.

    ``file``: bytes, str, or a binary or text file object (an upload, ``open(...)``).
    Bytes are read as UTF-8 (with or without BOM), else as GB18030 (Excel on Chinese
    Windows). With ``replace`` (the default) a day the store already has is overwritten;
    without it such a row is refused. Raises OrderVolumeImportError, writing nothing,
    if any row is wrong.

    Queries: stores (1), existing days (1), then one INSERT per BATCH_SIZE rows, in one
    transaction, whatever the number of rows or stores.
    """
    columns, records = _read_table(_read_text(file))
    errors: list[RowError] = []
    # Paid orders are counted per Asia/Shanghai day (SPEC.md), so "the future" is too.
    today = timezone.localdate(timezone=SHANGHAI)
    rows = [_parse_row(number, record, columns, today, errors) for number, record in records]

    store_ids = _store_ids({row.code for row in rows if row.code})
    seen: dict[tuple[str, date], int] = {}
    for row in rows:
        if row.code and row.code not in store_ids:
            errors.append(
                RowError(
                    row.number,
                    columns["store_code"][1],
                    _("Unknown store code “%(code)s”.") % {"code": row.code},
                    "unknown_store",
                )
            )
        if row.code and row.day:
            first = seen.setdefault((row.code, row.day), row.number)
            if first != row.number:
                errors.append(
                    RowError(
                        row.number,
                        columns["date"][1],
                        _("Store %(code)s, %(date)s is already in row %(row)d.")
                        % {"code": row.code, "date": row.day.isoformat(), "row": first},
                        "duplicate_row",
                    )
                )
    if errors:
        raise _refusal(errors, columns)

    existing = _existing_days(rows, store_ids)
    if not replace:
        for row in rows:
            if (store_ids[row.code], row.day) in existing:
                errors.append(
                    RowError(
                        row.number,
                        columns["date"][1],
                        _(
                            "Store %(code)s already has paid orders for %(date)s; "
                            "import with “replace” to overwrite them."
                        )
                        % {"code": row.code, "date": row.day.isoformat()},
                        "exists",
                    )
                )
        if errors:
            raise _refusal(errors, columns)

    volumes = [
        DailyOrderVolume(
            store_id=store_ids[row.code],
            date=row.day,
            paid_orders=row.paid_orders,
            paid_amount=row.paid_amount,
        )
        for row in rows
    ]
    try:
        with transaction.atomic():
            if replace:
                # ON CONFLICT DO UPDATE: a day written by someone else since the lookup
                # above is overwritten too, never duplicated (only the counts may be off).
                DailyOrderVolume.objects.bulk_create(
                    volumes,
                    batch_size=BATCH_SIZE,
                    update_conflicts=True,
                    unique_fields=["store", "date"],
                    update_fields=["paid_orders", "paid_amount"],
                )
            else:
                DailyOrderVolume.objects.bulk_create(volumes, batch_size=BATCH_SIZE)
    except IntegrityError as error:
        # Someone wrote one of these days (without replace) or deleted a store since the
        # lookups above.
        raise OrderVolumeImportError(
            [
                RowError(
                    None,
                    "",
                    _("The data changed while importing; nothing was imported. Try again."),
                    "conflict",
                )
            ]
        ) from error
    updated = sum((store_ids[row.code], row.day) in existing for row in rows)
    return ImportResult(created=len(rows) - updated, updated=updated)


def _file_error(message: str, code: str, row: int | None = None) -> OrderVolumeImportError:
    return OrderVolumeImportError([RowError(row, "", message, code)])


def _refusal(errors: list[RowError], columns: dict) -> OrderVolumeImportError:
    order = {key: index for index, key in enumerate(column.key for column in COLUMNS)}
    position = {header: order[key] for key, (_index, header) in columns.items()}
    errors.sort(key=lambda error: (error.row or 0, position.get(error.column, -1)))
    return OrderVolumeImportError(errors)


def _read_text(file) -> str:
    if isinstance(file, bytes | bytearray | memoryview | str):
        data = file
    else:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _file_error(
            _("The file is larger than %(size)d MB.") % {"size": MAX_BYTES // (1024 * 1024)},
            "too_large",
        )
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    data = bytes(data)
    # UTF-8 first: GB18030 would also decode many UTF-8 files, into nonsense. Excel's
    # "Unicode text" (UTF-16, tab-separated) is no CSV even if it happened to decode.
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise _file_error(
        _(
            "The file is neither UTF-8 nor GB18030 text. In Excel, save it as "
            "“CSV UTF-8” or “CSV (comma delimited)”."
        ),
        "bad_encoding",
    )


def _read_table(text: str) -> tuple[dict[str, tuple[int, str]], list[tuple[int, list]]]:
    """{column key: (index, header as written)}, and the non-blank data rows with
    their row numbers (a spreadsheet's: the header is row 1)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    numbered = enumerate(reader, start=1)
    header_row, header = None, None
    records: list[tuple[int, list]] = []
    number = 0
    try:
        for number, record in numbered:
            if not any(cell.strip() for cell in record):
                continue  # blank lines, or Excel's trailing ",,,"
            if header is None:
                header_row, header = number, record
                continue
            records.append((number, record))
            if len(records) > MAX_ROWS:
                raise _file_error(
                    _("The file has more than %(max)s data rows; split it into several files.")
                    % {"max": f"{MAX_ROWS:,}"},
                    "too_many_rows",
                    row=number,
                )
    except csv.Error as error:
        raise _file_error(
            _("This is not valid CSV: %(error)s") % {"error": error}, "bad_csv", row=number + 1
        ) from error
    if header is None:
        raise _file_error(_("The file is empty."), "empty_file")

    columns: dict[str, tuple[int, str]] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(header):
        name = cell.strip()
        column = _ALIASES.get(name.lower().replace(" ", "_"))
        if column is None:
            continue  # extra columns (a store name, a note) are allowed and ignored
        if column.key in columns:
            errors.append(
                RowError(header_row, name, _("This column appears twice."), "duplicate_column")
            )
            continue
        columns[column.key] = (index, name)
    for column in COLUMNS:
        if column.required and column.key not in columns:
            errors.append(
                RowError(
                    header_row,
                    "",
                    _("The required column %(zh)s (%(en)s) is missing.")
                    % {"zh": column.zh, "en": column.key},
                    "missing_column",
                )
            )
    if errors:
        raise OrderVolumeImportError(errors)
    if not records:
        raise _file_error(_("The file has a header but no data rows."), "empty_file")
    return columns, records


def _parse_row(
    number: int, record: list, columns: dict, today: date, errors: list[RowError]
) -> _Row:
    def cell(key: str) -> tuple[str, str]:
        if key not in columns:
            return "", ""
        index, header = columns[key]
        return (record[index].strip() if index < len(record) else ""), header

    def error(header: str, message: str, code: str) -> None:
        errors.append(RowError(number, header, message, code))

    code, header = cell("store_code")
    if not code:
        error(header, _("This value is required."), "required")

    day = None
    value, header = cell("date")
    match = _DATE.fullmatch(value)
    if not value:
        error(header, _("This value is required."), "required")
    elif match:
        with contextlib.suppress(ValueError):  # 2026-02-30 and the like
            day = date(int(match[1]), int(match[3]), int(match[4]))
    if value and day is None:
        error(
            header,
            _("“%(value)s” is not a date as YYYY-MM-DD (or YYYY/MM/DD).") % {"value": value},
            "bad_date",
        )
    if day is not None and day > today:
        error(
            header,
            _("%(date)s is in the future (today is %(today)s, Asia/Shanghai).")
            % {"date": day.isoformat(), "today": today.isoformat()},
            "future_date",
        )
        day = None

    paid_orders = None
    value, header = cell("paid_orders")
    if not value:
        error(header, _("This value is required."), "required")
    elif not _COUNT.fullmatch(value):
        error(
            header,
            _("“%(value)s” is not a whole number of 0 or more.") % {"value": value},
            "bad_paid_orders",
        )
    elif int(value) > MAX_PAID_ORDERS:
        error(header, _("%(value)s is too large.") % {"value": value}, "bad_paid_orders")
    else:
        paid_orders = int(value)

    paid_amount = None
    value, header = cell("paid_amount")
    if not value:
        paid_amount = Decimal("0.00")
    elif not _AMOUNT.fullmatch(value):
        error(
            header,
            _("“%(value)s” is not an amount of 0 or more with at most 2 decimal places.")
            % {"value": value},
            "bad_paid_amount",
        )
    elif Decimal(value) >= MAX_AMOUNT:
        error(header, _("%(value)s is too large.") % {"value": value}, "bad_paid_amount")
    else:
        paid_amount = Decimal(value)

    return _Row(number, code, day, paid_orders, paid_amount)


def _store_ids(codes: set[str]) -> dict[str, int]:
    stores = Store.objects.order_by()
    if len(codes) <= IN_LIST_LIMIT:
        stores = stores.filter(code__in=codes)
    return dict(stores.values_list("code", "pk"))


def _existing_days(rows: list[_Row], store_ids: dict[str, int]) -> set[tuple[int, date]]:
    """(store id, date) pairs already stored, among those of the file."""
    wanted = {(store_ids[row.code], row.day) for row in rows}
    days = [day for _store, day in wanted]
    found = DailyOrderVolume.objects.order_by().filter(date__range=(min(days), max(days)))
    stores = {store for store, _day in wanted}
    if len(stores) <= IN_LIST_LIMIT:
        found = found.filter(store_id__in=stores)
    return wanted & set(found.values_list("store_id", "date"))
