"""The nightly store-day reports in the admin: a read-only list, and ops' platform-wide
download (CSV or XLSX) for a period.

Imported at the end of arbitration/admin.py. The rows are written only by the nightly
batch, so staff read them here and never add, edit or delete them.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from merchants.clock import SHANGHAI
from merchants.models import Platform
from tickets.admin import ServiceWrittenAdmin

from .exports import (
    CSV_CONTENT_TYPE,
    MAX_PERIOD_DAYS,
    XLSX_CONTENT_TYPE,
    ReportPeriodForm,
    default_period,
    report_rows_csv,
    report_rows_xlsx,
)
from .models import StoreDayReport
from .report_selectors import platform_reports

VIEW_PERMISSION = "arbitration.view_storedayreport"

FORMATS = {
    "csv": (report_rows_csv, CSV_CONTENT_TYPE),
    "xlsx": (report_rows_xlsx, XLSX_CONTENT_TYPE),
}


class PlatformDownloadForm(ReportPeriodForm):
    platform = forms.ChoiceField(
        label=_("Platform"),
        choices=[("", _("All platforms")), *Platform.choices],
        required=False,
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[("csv", _("CSV (Excel)")), ("xlsx", _("XLSX"))],
        initial="csv",
        widget=forms.RadioSelect,
    )


@admin.register(StoreDayReport)
class StoreDayReportAdmin(ServiceWrittenAdmin):
    list_display = [
        "day",
        "store",
        "received",
        "timed_out",
        "escalated",
        "judged_liable",
        "dispute_rate",
    ]
    list_filter = ["store__platform"]
    date_hierarchy = "day"
    search_fields = ["store__code"]
    # One query for the rows whatever their number: the store is the only relation shown.
    list_select_related = ["store"]
    ordering = ["-day", "store__code"]
    actions = None

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "download/",
                self.admin_site.admin_view(self.download_view),
                name="{}_{}_download".format(*info),
            ),
            *super().get_urls(),
        ]

    change_list_template = "admin/xietong/change_list_tool.html"

    def changelist_view(self, request, extra_context=None):
        name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_download"
        extra_context = {
            **(extra_context or {}),
            "tool_url": reverse(name, current_app=self.admin_site.name),
            "tool_label": gettext("Download platform-wide"),
        }
        return super().changelist_view(request, extra_context)

    def download_view(self, request):
        """Every store's rows for the period (one platform's if chosen), as a file."""
        # Superusers have every permission, so has_perm covers them too.
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied
        if request.GET:
            form = PlatformDownloadForm(request.GET)
            if form.is_valid():
                return self._download(request, form.cleaned_data)
        else:
            start, end = default_period(timezone.now().astimezone(SHANGHAI).date())
            form = PlatformDownloadForm(initial={"start": start, "end": end, "format": "csv"})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Download platform-wide"),
            "form": form,
            "intro": gettext(
                "Every store's day reports for a period of at most %(days)d days (Beijing "
                "days). The column headers follow the admin's language."
            )
            % {"days": MAX_PERIOD_DAYS},
            "submit_label": gettext("Download"),
            "form_method": "get",
            "media": self.media + form.media,
        }
        return TemplateResponse(
            request, "admin/xietong/form_page.html", context, status=400 if form.errors else 200
        )

    def _download(self, request, data: dict) -> HttpResponse:
        build, content_type = FORMATS[data["format"]]
        rows = platform_reports(start=data["start"], end=data["end"], platform=data["platform"])
        content = build(rows, language=translation.get_language())
        scope = data["platform"] or "all"
        filename = f"xietong-{scope}-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.{data['format']}"
        return HttpResponse(
            content,
            content_type=content_type,
            # admin_view already marks the response never_cache.
            headers={"Content-Disposition": content_disposition_header(True, filename)},
        )
