"""The store's nightly day reports: a page for a period, and its CSV / XLSX downloads.

Every read is scoped to ``request.store``, the member's current store; no URL or
parameter names a store, so another store's rows cannot be asked for.
"""

from decimal import Decimal
from typing import NamedTuple

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache

from arbitration.exports import (
    CSV_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    ReportPeriodForm,
    default_period,
    report_rows_csv,
    report_rows_xlsx,
    seconds_to_minutes,
)
from arbitration.models import StoreDayReport
from arbitration.report_selectors import store_reports
from merchants.clock import SHANGHAI

from ..dashboard_selectors import notifications_unread_count
from .common import store_required

FORMATS = {
    "csv": (report_rows_csv, CSV_CONTENT_TYPE),
    "xlsx": (report_rows_xlsx, XLSX_CONTENT_TYPE),
}


class ReportRow(NamedTuple):
    report: StoreDayReport
    median_minutes: Decimal | None
    p90_minutes: Decimal | None


def _period_form(request) -> ReportPeriodForm:
    """The period from the query string; a missing end falls back to the default period
    (the last 30 Beijing days up to yesterday), so the bare URL is a valid request."""
    start, end = default_period(timezone.now().astimezone(SHANGHAI).date())
    data = {"start": start.isoformat(), "end": end.isoformat()}
    data.update({key: request.GET[key] for key in ("start", "end") if key in request.GET})
    return ReportPeriodForm(data)


def _page(request, form: ReportPeriodForm, *, status: int = 200):
    rows = []
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        rows = [
            ReportRow(
                report,
                seconds_to_minutes(report.median_reply_seconds),
                seconds_to_minutes(report.p90_reply_seconds),
            )
            for report in store_reports(store=request.store, start=start, end=end)
        ]
    context = {
        "form": form,
        "rows": rows,
        "period": form.cleaned_data if form.is_valid() else None,
        "unread_count": notifications_unread_count(membership=request.membership),
    }
    return render(request, "tickets/reports.html", context, status=status)


@store_required
def reports(request):
    form = _period_form(request)
    return _page(request, form, status=200 if form.is_valid() else 400)


@never_cache
@store_required
def download(request, fmt: str):
    """The current store's rows for the period; headers in the request's language."""
    form = _period_form(request)
    if not form.is_valid():
        return _page(request, form, status=400)
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    build, content_type = FORMATS[fmt]
    rows = store_reports(store=request.store, start=start, end=end)
    content = build(rows, language=translation.get_language())
    filename = f"xietong-{request.store.code}-{start:%Y%m%d}-{end:%Y%m%d}.{fmt}"
    return HttpResponse(
        content,
        content_type=content_type,
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )
