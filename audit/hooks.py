"""What a ModelAdmin save changed, noted on the request for the audit middleware.

ModelAdmin.construct_change_message is where the admin, having saved an object, holds
the form that saved it (change and add forms, list_editable rows, UserAdmin's password
form): the one point that sees old and new values of every admin, Django's own
(users, groups) included, without each admin having to remember a mixin. The wrapper
installed here (AuditConfig.ready) keeps the message Django builds and only reads the
form; a failure to read it is logged and never stops the save.
"""

import logging

from django.contrib.admin import ModelAdmin

from .capture import form_changes

logger = logging.getLogger(__name__)


def note_form_changes(request, form, formsets, *, add: bool) -> None:
    try:
        change = form_changes(form, formsets, add=add)
    except Exception:
        logger.exception("audit: could not read the changes of %s", request.path)
        return
    if not hasattr(request, "_audit_changes"):
        request._audit_changes = []
    request._audit_changes.append(change)


def install() -> None:
    original = ModelAdmin.construct_change_message
    if getattr(original, "audit_hook", False):
        return

    def construct_change_message(self, request, form, formsets, add=False):
        message = original(self, request, form, formsets, add)
        note_form_changes(request, form, formsets, add=add)
        return message

    construct_change_message.audit_hook = True
    construct_change_message.__wrapped__ = original
    construct_change_message.__doc__ = original.__doc__
    ModelAdmin.construct_change_message = construct_change_message
