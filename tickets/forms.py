"""Dashboard forms: they parse input; the services decide."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import ContactChannel, TicketKind, TicketState
from .queue import DEFAULT_SORT, DEFAULT_VIEW, SORTS, VIEWS
from .widgets import QuickDateInput, QuickSelect, QuickTextInput

STATE_CHOICES = [("", _("All states"))] + list(TicketState.choices)
KIND_CHOICES = [("", _("All kinds"))] + list(TicketKind.choices)


class InboxFilterForm(forms.Form):
    view = forms.ChoiceField(
        label=_("View"), choices=list(VIEWS.items()), required=False, widget=forms.HiddenInput
    )
    sort = forms.ChoiceField(label=_("Sort by"), choices=list(SORTS.items()), required=False)
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=64,
        widget=QuickTextInput(
            attrs={
                "type": "search",
                "placeholder": _("Ticket / order no., name, phone's last 4, summary"),
            }
        ),
    )
    state = forms.ChoiceField(
        label=_("State"), choices=STATE_CHOICES, required=False, widget=QuickSelect
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=KIND_CHOICES, required=False, widget=QuickSelect
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    mine = forms.BooleanField(label=_("Assigned to me"), required=False)
    created_from = forms.DateField(
        label=_("Created from"), required=False, widget=QuickDateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label=_("Created to"), required=False, widget=QuickDateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", _("The end date is before the start date."))
        return data

    def queue_view(self) -> str:
        """The tab: as asked, else 全部 when a state is picked, else 待处理."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("view"):
            return data["view"]
        return "all" if data.get("state") else DEFAULT_VIEW

    def queue_sort(self) -> str:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return data.get("sort") or DEFAULT_SORT

    def created_range(self) -> tuple[datetime | None, datetime | None]:
        """Local (Asia/Shanghai) calendar days as an aware [start, end) range."""
        tz = timezone.get_current_timezone()
        start, end = self.cleaned_data.get("created_from"), self.cleaned_data.get("created_to")
        return (
            datetime.combine(start, time.min, tzinfo=tz) if start else None,
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz) if end else None,
        )


class LocalDateTimeField(forms.DateTimeField):
    """A <input type=datetime-local>, read in Asia/Shanghai."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class ContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactChannel.choices)
    attempted_at = LocalDateTimeField(label=_("When"))
    note = forms.CharField(
        label=_("Note"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("File"))


class ReplyForm(forms.Form):
    option = forms.ChoiceField(label=_("Outcome"), widget=forms.RadioSelect)
    remark = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    agreed_at = LocalDateTimeField(label=_("Agreement reached at"), required=False)

    def __init__(self, *args, options, language="zh-hans", **kwargs):
        super().__init__(*args, **kwargs)
        self.options = {str(o.pk): o for o in options}
        english = language.startswith("en")
        self.fields["option"].choices = [
            (str(o.pk), o.label_en if english else o.label) for o in options
        ]


class ExemptionForm(forms.Form):
    reason = forms.CharField(
        label=_("What happened"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    minutes = forms.IntegerField(
        label=_("Extra time (minutes)"), min_value=1, max_value=7 * 24 * 60
    )


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(
        label=_("Assign to"), coerce=int, required=False, empty_value=None, widget=QuickSelect
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.members = {m.user_id: m.user for m in members}
        self.fields["assignee"].choices = [("", _("Nobody"))] + [
            (m.user_id, m.user.get_username()) for m in members
        ]


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class AppealForm(forms.Form):
    """申诉: the statement, and the files' input for its label and errors. The view
    passes ``request.FILES.getlist("files")`` to arbitration.services.appeals.appeal_file,
    which checks both (required, length, number and content of the files)."""

    statement = forms.CharField(
        label=_("Why the decision is wrong"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    files = forms.Field(
        label=_("New evidence (optional)"),
        required=False,
        widget=MultipleFileInput,
    )
