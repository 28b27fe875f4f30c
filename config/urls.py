from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from integration.api import router as events_router
from tickets.api import intake_api

# The event feed joins the intake API (same tokens, errors and OpenAPI document).
intake_api.add_router("/events", events_router)


@require_safe
@cache_control(public=True, max_age=24 * 3600)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the pages' <link rel="icon"> says: send them
    to the SVG (its hashed name in production) instead of logging a 404 each time."""
    return redirect(static("img/favicon.svg"))


# The staff admin's frame, in the active language (协同工单管理 in Chinese).
admin.site.site_header = _("Xietong ticket administration")
admin.site.site_title = _("Xietong ticket administration")
admin.site.index_title = _("Xietong ticket administration")

# Django 5.2's admin shows these without a zh-hans translation in its own catalogue (the
# app list's headers for screen readers, the user add form's note): ours supplies them,
# and takes precedence (LOCALE_PATHS).
DJANGO_ADMIN_MESSAGES = [
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", intake_api.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("tickets.urls")),
]
