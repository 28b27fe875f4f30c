"""tickets/widgets.py prints exactly what Django's widget templates print."""

from datetime import date

import pytest
from django import forms

from tickets.forms import AssignForm, InboxFilterForm
from tickets.widgets import QuickDateInput, QuickSelect, QuickTextInput

CHOICES = [("", "All"), ("open", "Open & <new>"), ('a"b', "Quote")]


class Theirs(forms.Form):
    text = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"type": "search", "placeholder": "a<b"})
    )
    day = forms.DateField(required=True, widget=forms.DateInput(attrs={"type": "date"}))
    pick = forms.ChoiceField(choices=CHOICES, required=False)
    flag = forms.ChoiceField(
        choices=CHOICES, required=False, widget=forms.Select(attrs={"disabled": True})
    )


class Ours(forms.Form):
    text = forms.CharField(
        required=False, widget=QuickTextInput(attrs={"type": "search", "placeholder": "a<b"})
    )
    day = forms.DateField(required=True, widget=QuickDateInput(attrs={"type": "date"}))
    pick = forms.ChoiceField(choices=CHOICES, required=False, widget=QuickSelect)
    flag = forms.ChoiceField(
        choices=CHOICES, required=False, widget=QuickSelect(attrs={"disabled": True})
    )


@pytest.mark.parametrize(
    "data",
    [
        None,  # unbound: no value
        {"text": 'x"<y>&', "day": "2026-12-03", "pick": "open", "flag": 'a"b'},
        {"text": "", "day": "not a date", "pick": "nope"},  # errors: aria-invalid
    ],
)
def test_quick_widgets_print_what_djangos_templates_print(data):
    theirs, ours = Theirs(data), Ours(data)
    if data is not None:
        theirs.is_valid(), ours.is_valid()
    for name in ("text", "day", "pick", "flag"):
        assert str(ours[name]) == str(theirs[name]), name


def test_a_date_value_is_formatted_as_django_formats_it():
    assert str(Ours(initial={"day": date(2026, 12, 3)})["day"]) == str(
        Theirs(initial={"day": date(2026, 12, 3)})["day"]
    )


def test_the_inbox_forms_use_them():
    form = InboxFilterForm({"q": "王", "state": "open"})
    assert isinstance(form.fields["state"].widget, QuickSelect)
    assert 'value="open" selected' in str(form["state"])
    assert str(form["q"]).startswith('<input type="search" name="q" value="王"')
    assert isinstance(AssignForm(members=[]).fields["assignee"].widget, QuickSelect)
