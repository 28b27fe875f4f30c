"""Form widgets that print Django's markup without its widget templates.

Django renders each widget through a template, and a select's every option through two
more (``select_option.html``, ``attrs.html``): the inbox's filter and assign forms cost
~3 ms a page that way, which a queue page polled by a busy team pays on every refresh
(issue 12). These render the same markup from Python; ``tests/tickets/test_widgets.py``
holds them to Django's output.
"""

from django import forms
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html``: True prints the bare name, False nothing."""
    parts = []
    for name, value in attrs.items():
        if value is True:
            parts.append(f" {name}")
        elif value is not False:
            parts.append(f' {name}="{escape(str(value))}"')
    return "".join(parts)


class QuickInputMixin:
    """``input.html``, for any ``forms.Input`` (its ``format_value`` still applies)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        shown = widget["value"]
        value_attr = "" if shown is None else f' value="{escape(str(shown))}"'
        return mark_safe(  # noqa: S308 - every value above is escaped
            f'<input type="{conditional_escape(widget["type"])}"'
            f' name="{conditional_escape(widget["name"])}"{value_attr}{_attrs(widget["attrs"])}>'
        )


class QuickTextInput(QuickInputMixin, forms.TextInput):
    pass


class QuickDateInput(QuickInputMixin, forms.DateInput):
    pass


class QuickSelect(forms.Select):
    """``select.html`` with its options (no option groups: these choices have none)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        options = []
        for _group, choices, _index in widget["optgroups"]:
            for option in choices:
                options.append(
                    f'\n  <option value="{escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                )
        return mark_safe(  # noqa: S308 - every value above is escaped
            f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>'
            f"{''.join(options)}\n</select>"
        )
