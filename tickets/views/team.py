"""The team page: round-robin, who is on duty, and the store's quick phrases (快捷短语).

The owner changes them through htmx forms that swap their own section; without
JavaScript each POST redirects back to the page. Everyone else sees the same
page read-only, and the services refuse their POSTs (403).
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from merchants.models import Membership
from merchants.services import store_check_owner

from ..dashboard_selectors import (
    notifications_unread_count,
    store_reply_templates,
    team_members,
)
from ..models import ReplyTemplate
from ..services.team import (
    membership_set_on_duty,
    reply_template_create,
    reply_template_delete,
    store_set_round_robin,
)
from .common import add_service_error, store_required

SECTIONS = {
    "round_robin": ("tickets/_team_round_robin.html", "team-round-robin"),
    "members": ("tickets/_team_members.html", "team-members"),
    "phrases": ("tickets/_team_phrases.html", "team-phrases"),
}


class SwitchForm(forms.Form):
    """One on/off button: its value says what to switch to."""

    enabled = forms.TypedChoiceField(
        choices=[("1", "on"), ("0", "off")], coerce=lambda value: value == "1"
    )


class PhraseForm(forms.Form):
    # Lengths mirror the model, so an over-long title is an error, not a database one.
    title = forms.CharField(label=gettext_lazy("Title"), max_length=50, required=False)
    text = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _context(request, **extra) -> dict:
    context = {
        "is_owner": request.membership.role == Membership.Role.OWNER,
        "members": team_members(store=request.store),
        "phrases": store_reply_templates(store=request.store),
        "phrase_form": PhraseForm(),
    }
    context.update(extra)
    return context


def _respond(request, section: str, *, ok: bool, notice: str = "", **extra):
    """htmx: the section again (with its errors or a notice); otherwise back to the page."""
    template, anchor = SECTIONS[section]
    if request.htmx:
        return render(request, template, _context(request, notice=notice, **extra))
    if ok:
        if notice:
            messages.success(request, notice)
        return redirect(reverse("team") + f"#{anchor}")
    return render(request, "tickets/team.html", _page_context(request, **extra))


def _page_context(request, **extra) -> dict:
    return _context(
        request,
        unread_count=notifications_unread_count(membership=request.membership),
        **extra,
    )


def _owner_only(request) -> None:
    """Refuse non-owners before reading the form, so whatever they post gets the same
    403 (Django's answer to PermissionDenied); the services check again."""
    store_check_owner(user=request.user, store=request.store)


def _switch(request) -> bool | None:
    form = SwitchForm(request.POST)
    return form.cleaned_data["enabled"] if form.is_valid() else None


@store_required
def team(request):
    return render(request, "tickets/team.html", _page_context(request))


@require_POST
@store_required
def round_robin(request):
    _owner_only(request)
    enabled = _switch(request)
    if enabled is None:
        return HttpResponseBadRequest()
    store_set_round_robin(store=request.store, user=request.user, enabled=enabled)
    notice = _("Round-robin assignment is on.") if enabled else _("Round-robin assignment is off.")
    return _respond(request, "round_robin", ok=True, notice=notice)


@require_POST
@store_required
def member_duty(request, pk: int):
    _owner_only(request)
    # Another store's member is a 404: ids don't leak.
    membership = get_object_or_404(
        Membership.objects.select_related("user", "store"), pk=pk, store=request.store
    )
    on_duty = _switch(request)
    if on_duty is None:
        return HttpResponseBadRequest()
    membership_set_on_duty(membership=membership, user=request.user, on_duty=on_duty)
    name = membership.user.get_username()
    notice = (
        _("%(name)s is on duty.") % {"name": name}
        if on_duty
        else _("%(name)s is off duty.") % {"name": name}
    )
    return _respond(request, "members", ok=True, notice=notice)


@require_POST
@store_required
def phrase_add(request):
    _owner_only(request)
    form = PhraseForm(request.POST)
    ok = False
    if form.is_valid():
        try:
            phrase = reply_template_create(
                store=request.store,
                user=request.user,
                title=form.cleaned_data["title"],
                text=form.cleaned_data["text"],
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            ok = True
    if not ok:
        return _respond(request, "phrases", ok=False, phrase_form=form)
    notice = _("Quick phrase “%(title)s” added.") % {"title": phrase.title}
    return _respond(request, "phrases", ok=True, notice=notice)


@require_POST
@store_required
def phrase_delete(request, pk: int):
    # Another store's phrase is a 404: ids don't leak.
    phrase = get_object_or_404(
        ReplyTemplate.objects.select_related("store"), pk=pk, store=request.store
    )
    title = phrase.title
    # Not the owner: PermissionDenied propagates and Django answers 403.
    reply_template_delete(template=phrase, user=request.user)
    notice = _("Quick phrase “%(title)s” deleted.") % {"title": title}
    return _respond(request, "phrases", ok=True, notice=notice)
