from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from tickets.api import intake_api


@require_safe
@cache_control(public=True, max_age=24 * 3600)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the pages' <link rel="icon"> says: send them
    to the SVG (its hashed name in production) instead of logging a 404 each time."""
    return redirect(static("img/favicon.svg"))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", intake_api.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("tickets.urls")),
]
