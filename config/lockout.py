"""What a locked-out login sees (django-axes' AXES_LOCKOUT_CALLABLE).

The login page again, in the site's frame and language, saying why and for how long,
rather than axes' bare text. The admin's login gets the same page: a locked-out pair is
locked out of both, and the form posts back to the site's login, which the admin accepts.
"""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext

# Too Many Requests, as axes answers by default (AXES_HTTP_RESPONSE_CODE).
LOCKED_OUT_STATUS = 429


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    message = ngettext(
        "Too many failed logins: this username is locked on this device for %(minutes)d "
        "minute. Try again later, or ask your administrator to unlock it.",
        "Too many failed logins: this username is locked on this device for %(minutes)d "
        "minutes. Try again later, or ask your administrator to unlock it.",
        minutes,
    ) % {"minutes": minutes}
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    next_url = request.POST.get("next") or request.GET.get("next", "")
    if request.path.startswith(reverse("admin:index")) and not next_url:
        next_url = reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "next": next_url, "lockout_message": message}
    return render(request, "registration/login.html", context, status=LOCKED_OUT_STATUS)
