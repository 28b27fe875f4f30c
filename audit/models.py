"""The audit trail: who changed what, when, through the staff admin or the API.

One row per data-changing request (POST, PUT, PATCH, DELETE) to the admin or to /api/
that reached a view, refused ones included, written by audit.middleware after the
response. Rows are never edited or deleted by the app: the model refuses it here, and on
PostgreSQL a trigger refuses it in the database (migration 0001; how ops archive old
rows is in README.md, "Audit trail").

The ticket's own history stays in tickets.TicketEvent, written by the services; this is
the request-level record beside it (what staff typed, which token called).
"""

from django.conf import settings
from django.db import models
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

# One error for every append-only log (the tickets' events and this trail).
from tickets.models import AppendOnlyError


class Via(models.TextChoices):
    ADMIN = "admin", _("staff admin")
    API = "api", _("intake API")


class Outcome(models.TextChoices):
    # Admin answers a change it made with a redirect (or the API with 2xx); a POST
    # answered 200 by the admin showed its form again: invalid input, or a confirmation
    # step before the change.
    DONE = "done", _("done")
    SHOWN_AGAIN = "shown_again", _("form shown again, nothing saved")
    REFUSED = "refused", _("refused")
    ERROR = "error", _("server error")


class AuditEntryQuerySet(models.QuerySet):
    """Bulk writes would pass by save() and delete(): refused as well."""

    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditEntry(models.Model):
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        # Indexed with the time below (the "by actor" filter lists newest first).
        db_index=False,
        related_name="+",
        verbose_name=_("actor"),
        help_text=_("Empty when nobody was logged in (a refused login, an expired session)."),
    )
    # The username as it was then: kept when the user is renamed.
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    via = models.CharField(_("via"), max_length=8, choices=Via.choices)
    # Not a foreign key: a revoked or deleted token keeps its trail.
    api_token_id = models.PositiveBigIntegerField(_("API token id"), null=True, blank=True)
    api_token_name = models.CharField(_("API token name"), max_length=100, blank=True)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    view_name = models.CharField(_("view"), max_length=200, blank=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField(_("status code"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    # What changed: {"changes": [...]} for admin form saves (old → new per field, secrets
    # masked), {"action": …, "ids": […]} for admin actions, {"fields": {…}} for other admin
    # forms, {"keys": […], "result_id": …} for API calls (see audit.capture).
    what = models.JSONField(_("what"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=256, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [
            # The list, newest first, and any date filter on it.
            models.Index(fields=["-at", "-id"], name="audit_entry_at"),
            # "Everything done to this ticket" (type and id), and the admin's search by
            # an id alone: the id leads, so both use it.
            models.Index(fields=["object_id", "object_type"], name="audit_entry_object"),
            # The admin's search by the start of a path (LIKE 'prefix%'; PostgreSQL).
            models.Index(
                fields=["path"], opclasses=["varchar_pattern_ops"], name="audit_entry_path"
            ),
            models.Index(fields=["actor", "-at"], name="audit_entry_actor_at"),
        ]

    def __str__(self):
        when = f"{localtime(self.at):%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.actor_label or '—'} {self.method} {self.path}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")
