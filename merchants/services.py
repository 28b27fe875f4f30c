"""Store rules. Refusals raise ValidationError with a code, so every caller
(admin, API, dashboard) shows the same plain message."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from .models import JD_EXCLUDED_LINES, Platform, Store


def store_ticket_ineligibility(*, store: Store) -> str | None:
    """Why tickets may not be opened against ``store``, or None when they may."""
    if not store.is_active:
        return _("Store %(store)s is inactive.") % {"store": store.code}
    # JD: POP and SOP merchants only, minus the excluded business lines (SPEC.md).
    if store.platform == Platform.JD:
        if store.jd_business_type not in ("pop", "sop"):
            return _("JD tickets apply to POP and SOP merchants only.")
        if store.jd_business_line in JD_EXCLUDED_LINES:
            return _("JD collaborative tickets do not apply to the %(line)s business line.") % {
                "line": store.get_jd_business_line_display()
            }
    return None


def store_check_ticket_eligibility(*, store: Store) -> None:
    reason = store_ticket_ineligibility(store=store)
    if reason:
        raise ValidationError(reason, code="store_ineligible")


def store_user_is_member(*, user, store: Store) -> bool:
    return (
        user is not None
        and user.is_authenticated
        and store.memberships.filter(user_id=user.pk).exists()
    )


def store_check_member(*, user, store: Store) -> None:
    """Merchant actions need a membership of the ticket's store; views turn this into a 404."""
    if not store_user_is_member(user=user, store=store):
        raise PermissionDenied(_("You do not act for store %(store)s.") % {"store": store.code})


def store_check_owner(*, user, store: Store) -> None:
    """Owner-only actions (assigning, team settings, quick phrases)."""
    if not store.memberships.filter(user_id=user.pk, role="owner").exists():
        raise PermissionDenied(_("Only the store owner can do this."))
