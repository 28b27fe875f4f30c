import csv
import io

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from .imports import TEMPLATE_HEADER, OrderVolumeImportError, order_volumes_import
from .models import DailyOrderVolume, Membership, Store

# A refused file can have an error on each of its 200,000 rows; the page shows the first ones.
SHOWN_IMPORT_ERRORS = 500


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "platform", "jd_business_type", "jd_business_line", "is_active"]
    list_filter = ["platform", "jd_business_type", "jd_business_line", "is_active"]
    search_fields = ["name", "code"]
    inlines = [MembershipInline]
    # Group-bot webhooks are HTTPS; a URL typed without a scheme gets https:// (Django 6's
    # default, and no RemovedInDjango60Warning when the form is built).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "role", "on_duty"]
    list_filter = ["role", "store__platform"]
    search_fields = ["user__username", "store__name", "store__code"]
    list_select_related = ["user", "store"]
    raw_id_fields = ["user", "store"]


class OrderVolumeImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Columns 店铺编码, 日期, 支付订单数, 支付金额 (or store_code, date, paid_orders, "
            "paid_amount); 支付金额 may be left out. Dates as YYYY-MM-DD. UTF-8 or GB18030."
        ),
    )
    replace = forms.BooleanField(
        label=_("Overwrite days already imported"),
        required=False,
        initial=True,
        help_text=_("Otherwise a row for a store and day that already has paid orders is refused."),
    )

    def __init__(self, *args, can_replace: bool, **kwargs):
        super().__init__(*args, **kwargs)
        # Overwriting a day is a change: without that permission, existing days are refused.
        if not can_replace:
            del self.fields["replace"]


@admin.register(DailyOrderVolume)
class DailyOrderVolumeAdmin(admin.ModelAdmin):
    list_display = ["store", "date", "paid_orders"]
    list_filter = ["store__platform"]
    search_fields = ["store__name", "store__code"]
    date_hierarchy = "date"
    list_select_related = ["store"]
    raw_id_fields = ["store"]
    change_list_template = "admin/merchants/dailyordervolume/change_list.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "import/template.csv",
                self.admin_site.admin_view(self.import_template_view),
                name="{}_{}_import_template".format(*info),
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        """Paid orders per store and day from a CSV: all rows, or none and the reasons."""
        if not request.user.has_perm("merchants.add_dailyordervolume"):
            raise PermissionDenied
        can_replace = request.user.has_perm("merchants.change_dailyordervolume")
        row_errors = []
        if request.method == "POST":
            form = OrderVolumeImportForm(request.POST, request.FILES, can_replace=can_replace)
            if form.is_valid():
                try:
                    result = order_volumes_import(
                        file=form.cleaned_data["file"],
                        replace=form.cleaned_data.get("replace", False),
                    )
                except OrderVolumeImportError as error:
                    row_errors = error.row_errors
                    form.add_error(
                        None,
                        ngettext(
                            "The file has %(count)d error; nothing was imported.",
                            "The file has %(count)d errors; nothing was imported.",
                            len(row_errors),
                        )
                        % {"count": len(row_errors)},
                    )
                else:
                    messages.success(
                        request,
                        ngettext(
                            "Imported %(total)d row: %(created)d created, %(updated)d updated.",
                            "Imported %(total)d rows: %(created)d created, %(updated)d updated.",
                            result.total,
                        )
                        % {
                            "total": result.total,
                            "created": result.created,
                            "updated": result.updated,
                        },
                    )
                    return redirect(f"{self.admin_site.name}:merchants_dailyordervolume_changelist")
        else:
            form = OrderVolumeImportForm(can_replace=can_replace)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import paid orders from CSV"),
            "form": form,
            "row_errors": row_errors[:SHOWN_IMPORT_ERRORS],
            "hidden_errors": max(len(row_errors) - SHOWN_IMPORT_ERRORS, 0),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/merchants/dailyordervolume/import.html", context)

    def import_template_view(self, request):
        """An empty CSV with the Chinese headers, with a BOM so Excel reads it as UTF-8."""
        if not request.user.has_perm("merchants.add_dailyordervolume"):
            raise PermissionDenied
        buffer = io.StringIO()
        csv.writer(buffer).writerow(TEMPLATE_HEADER)
        response = HttpResponse(
            ("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="order_volumes_template.csv"'
        return response


# --- platform staff: users and role groups, their permissions in the admin's language ----

# Django stores permission names in English at migrate time ("Can judge an escalated
# ticket", "Can add appeal"): the permission pickers show them translated instead.
BUILTIN_PERMISSION_ACTIONS = {
    "add": _("Can add %(name)s"),
    "change": _("Can change %(name)s"),
    "delete": _("Can delete %(name)s"),
    "view": _("Can view %(name)s"),
}

# The role groups (arbitration/roles.py) by name: what each one does, in words. The
# names themselves are identifiers the code looks groups up by.
ROLE_GROUP_LABELS = {
    "cs_agent": _("Platform customer service: opens, confirms and escalates tickets"),
    "arbitrator": _("Arbitration: judges escalated tickets, decides appeals"),
    "ops": _("Operations: policies, stores, exemptions, penalties and reports"),
}


def permission_label(permission) -> str:
    """「协同工单 | 工单 | 可判责已升级的工单」 rather than Django's English name."""
    content_type = permission.content_type
    model = content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if (
        model is not None
        and action in BUILTIN_PERMISSION_ACTIONS
        and model_name == model._meta.model_name
    ):
        name = BUILTIN_PERMISSION_ACTIONS[action] % {"name": model._meta.verbose_name}
    else:
        # A custom permission's name is the msgid of its Meta.permissions entry.
        name = gettext(permission.name)
    return f"{content_type} | {name}"


def group_label(group) -> str:
    label = ROLE_GROUP_LABELS.get(group.name)
    if label is None:
        return group.name
    return pgettext("role group", "%(label)s (%(name)s)") % {"label": label, "name": group.name}


class StaffPermissionsMixin:
    """The permission and group pickers of the user and group forms, in staff's words."""

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name in ("permissions", "user_permissions"):
            queryset = kwargs.get("queryset", db_field.remote_field.model.objects)
            kwargs["queryset"] = queryset.select_related("content_type")
        field = super().formfield_for_manytomany(db_field, request=request, **kwargs)
        if db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_label
        elif db_field.name == "groups":
            field.label_from_instance = group_label
        return field


class StaffGroupAdmin(StaffPermissionsMixin, auth_admin.GroupAdmin):
    list_display = ["group_name", "role"]

    @admin.display(description=_("name"), ordering="name")
    def group_name(self, obj: Group):
        return format_html("<code>{}</code>", obj.name)

    @admin.display(description=_("role"))
    def role(self, obj: Group) -> str:
        return ROLE_GROUP_LABELS.get(obj.name, "—")


class StaffUserAdmin(StaffPermissionsMixin, auth_admin.UserAdmin):
    pass


User = get_user_model()
for model, model_admin in ((Group, StaffGroupAdmin), (User, StaffUserAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
