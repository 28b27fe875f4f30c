"""Forms for the staff views in the admin.

They only parse input into the types the services take; the rules (amounts not
negative, reasoning required, a rejection needs a note, …) live in the services,
whose ValidationError is put back onto the form by ``add_service_error``.
"""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from .models import VIOLATION_POINTS


def add_service_error(form: forms.Form, error: ValidationError | PermissionDenied) -> None:
    """Show a service refusal on the form: under its field when the form has that
    field, otherwise at the top of the form."""
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error) or _("You are not allowed to do this."))
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        target = field if field in form.fields else None
        if field == NON_FIELD_ERRORS:
            target = None
        form.add_error(target, errors)


def error_text(error: ValidationError | PermissionDenied) -> str:
    """A service refusal as one line, for messages.error after an admin action."""
    if isinstance(error, PermissionDenied):
        return str(error) or str(_("You are not allowed to do this."))
    return " ".join(error.messages)


def _yes(value: str) -> bool:
    return value == "yes"


# The services' own messages (decisions.py), so step 1 of a confirmed decision says at
# once what the service would refuse after the confirmation.
AMOUNT_ERROR = _("Enter an amount of at least 0 with at most 2 decimals.")


class JudgeForm(forms.Form):
    merchant_liable = forms.TypedChoiceField(
        label=_("Merchant liable"),
        choices=[("yes", _("Yes: the merchant is liable")), ("no", _("No: not liable"))],
        coerce=_yes,
        widget=forms.RadioSelect,
        help_text=_("A liable judgment counts toward the store's dispute-refund rate."),
    )
    refund_amount = forms.DecimalField(
        label=_("Refund amount (CNY)"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        initial=0,
        error_messages={"min_value": AMOUNT_ERROR, "max_decimal_places": AMOUNT_ERROR},
    )
    reasoning = forms.CharField(
        label=_("Reasoning"),
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": _("Give the reasoning for the judgment.")},
        help_text=_("Sent to the merchant with the judgment."),
    )


class CompensateForm(forms.Form):
    amount = forms.DecimalField(label=_("Compensation (CNY)"), max_digits=12, decimal_places=2)
    note = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class MarkForgedForm(forms.Form):
    """凭证造假: how serious, and why (the merchant is told the reason)."""

    severity = forms.ChoiceField(label=_("Severity"), widget=forms.RadioSelect)
    note = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Give the reason for the finding: the merchant is told it.")},
        help_text=_("Sent to the merchant with the finding."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = [
            (
                severity.value,
                _("%(severity)s: %(points)d points")
                % {"severity": severity.label, "points": points},
            )
            for severity, points in VIOLATION_POINTS.items()
        ]


class ExemptionDecisionForm(forms.Form):
    """Grant or reject: the decision comes from the button pressed (name="decision")."""

    GRANT = "grant"
    REJECT = "reject"

    decision = forms.ChoiceField(
        choices=[(GRANT, _("Grant")), (REJECT, _("Reject"))], widget=forms.HiddenInput
    )
    minutes = forms.IntegerField(
        label=_("Extension to grant (minutes)"),
        required=False,
        help_text=_("On the ticket's own clock: working minutes for a working-hours policy."),
    )
    note = forms.CharField(
        label=_("Decision note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Required when rejecting: the store is told why."),
    )


class EscalateForm(forms.Form):
    reason = forms.CharField(
        label=_("Why does the consumer object?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )
