"""The admin change list's rows, built the way Django builds them, faster.

Django's ``items_for_result`` works out, for every cell, what the column is (a model
field, a ModelAdmin method, a property), its CSS class, its link and its empty value;
for a choices field it rebuilds the choices dict; a 25-row staff list of ten columns
spent ~12 ms there (``bench_pages``, issue 12). ``fast_result_list`` works each column
out once per page and then fills the cells, with the same markup: Django's own test of
that is ``tests/test_admin_rows.py``, which renders every registered change list both
ways. A list with ``list_editable`` (a formset) is left to Django.

Used by ``templates/admin/change_list.html`` for every change list.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django import template
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_list import ResultList, _boolean_icon, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    lookup_field,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()


@dataclass
class Column:
    name: Any  # a field name, a ModelAdmin method name, or a callable
    css: str  # "field-<name>" (or "action-checkbox")
    tag: str  # "th" for the column that links to the change page, else "td"
    link: bool
    field: models.Field | None = None
    attr: Any = None  # the callable, for a column that is not a model field
    resolved: bool = False  # False: look the cell up as Django does (rare: properties)
    choices: dict | None = None
    nowrap: bool = False
    empty: str = ""  # the column's own empty value, else the ModelAdmin's
    admin_empty: str = ""  # the ModelAdmin's (a related object that does not exist)
    boolean: bool = False


def _columns(cl) -> list[Column]:
    model_admin, opts = cl.model_admin, cl.lookup_opts
    empty = model_admin.get_empty_value_display()
    columns, first = [], True
    for index, name in enumerate(cl.list_display):
        if cl.list_display_links is None:
            link = False
        else:
            link = (first and not cl.list_display_links) or name in cl.list_display_links
        column = Column(
            name=name,
            css=f"field-{admin_list._coerce_field_name(name, index)}",
            tag="th" if link and first else "td",
            link=link,
            empty=empty,
            admin_empty=empty,
        )
        if link:
            first = False
        try:
            field = _get_non_gfk_field(opts, name)
        except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
            if callable(name):
                column.attr, column.resolved = name, True
            elif hasattr(model_admin, name) and name != "__str__":
                column.attr, column.resolved = getattr(model_admin, name), True
            if column.resolved:
                column.empty = getattr(column.attr, "empty_value_display", empty)
                column.boolean = getattr(column.attr, "boolean", False)
                if column.boolean:  # the icons once (each is a static() and a format_html)
                    column.choices = {value: _boolean_icon(value) for value in (True, False, None)}
            if name == "action_checkbox":
                column.css = "action-checkbox"
        else:
            column.field, column.resolved = field, True
            if field.auto_created:
                column.field = None
            elif getattr(field, "flatchoices", None):
                try:
                    # Labels translated once: a lazy label is translated again each time
                    # it is escaped.
                    column.choices = {value: str(label) for value, label in field.flatchoices}
                except TypeError:  # list-like choices: Django's own code handles them
                    column.choices = None
            elif isinstance(field, models.BooleanField):
                column.choices = {value: _boolean_icon(value) for value in (True, False, None)}
            column.nowrap = isinstance(
                field, (models.DateField, models.TimeField, models.ForeignKey)
            )
        columns.append(column)
    return columns


def _cell(cl, column: Column, result) -> str:
    css, repr_ = column.css, None
    if column.resolved:
        attr, field, empty = column.attr, column.field, column.empty
        try:
            value = attr(result) if attr is not None else getattr(result, column.name)
        except ObjectDoesNotExist:
            repr_ = column.admin_empty
    else:
        try:
            field, attr, value = lookup_field(column.name, result, cl.model_admin)
        except ObjectDoesNotExist:
            repr_, field, attr = column.admin_empty, None, None
        empty = getattr(attr, "empty_value_display", column.empty)
        if field is not None and field.auto_created:
            field = None
    if repr_ is None:
        if isinstance(value, str) and value.strip() == "":
            value = ""
        if field is None:
            boolean = column.boolean if column.resolved else getattr(attr, "boolean", False)
            if isinstance(attr, property) and hasattr(attr, "fget"):
                boolean = getattr(attr.fget, "boolean", False)
            if boolean and column.choices is not None and value in column.choices:
                repr_ = column.choices[value]
            else:
                repr_ = display_for_value(value, empty, boolean)
            if isinstance(value, (datetime.date, datetime.time)):
                css += " nowrap"
        else:
            if isinstance(field.remote_field, models.ManyToOneRel):
                related = getattr(result, field.name)
                repr_ = empty if related is None else related
            elif column.choices is not None:  # choices, or a boolean's icons
                repr_ = column.choices.get(value, empty)
            else:
                repr_ = display_for_field(value, field, empty, avoid_link=column.link)
            if column.nowrap:
                css += " nowrap"
    if column.link:
        try:
            url = cl.url_for_result(result)
        except NoReverseMatch:
            pass
        else:
            url = add_preserved_filters(
                {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url
            )
            popup = ""
            if cl.is_popup:
                pk = str(cl.to_field) if cl.to_field else cl.lookup_opts.pk.attname
                opener = conditional_escape(result.serializable_value(pk))
                popup = f' data-popup-opener="{opener}"'
            repr_ = mark_safe(
                f'<a href="{conditional_escape(url)}"{popup}>{conditional_escape(repr_)}</a>'
            )
    tag = column.tag
    return mark_safe(f'<{tag} class="{css}">{conditional_escape(repr_)}</{tag}>')


def fast_result_list(cl) -> dict:
    """The context of Django's ``result_list`` tag (``change_list_results.html``)."""
    if cl.formset:
        return admin_list.result_list(cl)
    headers = list(result_headers(cl))
    columns = _columns(cl)
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": [
            ResultList(None, [_cell(cl, column, result) for column in columns])
            for result in cl.result_list
        ],
    }


@register.tag(name="fast_result_list")
def fast_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=fast_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
