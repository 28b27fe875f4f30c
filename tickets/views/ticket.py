"""The ticket page and its htmx forms: contacts, evidence, reply, exemption, assignment.

Each POST calls one service. On htmx requests the affected section comes back as
a partial (the reply returns the whole ticket, so the new state shows at once);
without JavaScript the page is rendered again or redirected.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from .. import evidence as evidence_files
from ..forms import AssignForm, ContactForm, EvidenceForm, ExemptionForm, ReplyForm
from ..models import Evidence, TicketState
from ..selectors import store_members, ticket_clock, ticket_detail, timeline_entries
from ..services.contacts import contact_log
from ..services.evidence import evidence_upload
from ..services.exemptions import exemption_request
from ..services.lifecycle import reply_options_for, ticket_reply, ticket_reply_check
from ..services.team import tickets_assign
from ..thumbnails import thumbnail_content_type
from .appeals import ticket_decisions
from .common import add_service_error, store_required, store_ticket_or_404, stored_file_response

SECTION_TEMPLATES = {
    "ticket": "tickets/_ticket.html",
    "contacts": "tickets/_contacts.html",
    "evidence": "tickets/_evidence.html",
    "exemption": "tickets/_exemption.html",
}


def _context(request, ticket_id: int, **forms) -> dict:
    ticket = ticket_detail(ticket_id=ticket_id, store=request.store)
    if ticket is None:  # another store's id gets the same 404 as none: ids don't leak
        raise Http404
    options = list(reply_options_for(platform=ticket.store.platform))
    members = store_members(store=request.store)
    is_owner = request.membership.role == "owner"
    now = timezone.now()
    context = {
        "ticket": ticket,
        "seen_event_id": max((event.pk for event in ticket.events.all()), default=0),
        "timeline": timeline_entries(ticket=ticket),
        "evidence_previews": evidence_previews(ticket.evidence.all()),
        "clock": ticket_clock(ticket=ticket, now=now),
        "decisions": ticket_decisions(ticket=ticket, now=now),
        "is_open": ticket.state == TicketState.OPEN,
        "can_add": ticket.state in (TicketState.OPEN, TicketState.REPLIED, TicketState.ESCALATED),
        "options": options,
        "templates": list(request.store.reply_templates.all()),
        "is_owner": is_owner,
        "contact_form": _contact_form(),
        "evidence_form": EvidenceForm(),
        "reply_form": ReplyForm(options=options, language=translation.get_language()),
        "exemption_form": ExemptionForm(),
        "assign_form": AssignForm(members=members, initial={"assignee": ticket.assignee_id})
        if is_owner
        else None,
    }
    context.update(forms)
    return context


def _contact_form() -> ContactForm:
    """An empty contact form whose time defaults to now (Beijing time, to the minute)."""
    return ContactForm(
        initial={"attempted_at": timezone.localtime().replace(second=0, microsecond=0)}
    )


@dataclass(frozen=True)
class EvidencePreview:
    item: Evidence
    kind: str  # "pdf", "audio" (playable) or "file" (download only)


def evidence_previews(items) -> dict[str, list]:
    """The ticket's evidence as the page shows it: ``images`` (those with a thumbnail,
    as a grid) and ``files`` (the rest, each with how it is previewed). Works on the
    prefetched rows: no query, and no file is opened."""
    images, files = [], []
    for item in items:
        kind = evidence_files.preview_kind(
            content_type=item.content_type, has_thumbnail=bool(item.thumbnail)
        )
        if kind == "image":
            images.append(item)
        else:
            files.append(EvidencePreview(item, kind))
    return {"images": images, "files": files}


def _respond(request, ticket_id: int, section: str, *, ok: bool, **forms):
    if request.htmx:
        context = _context(request, ticket_id, **forms)
        response = render(request, SECTION_TEMPLATES[section], context)
        # The page now shows every event up to this one: the live stream's echo of the
        # change just made need not refresh it again (static/js/dashboard.js).
        response["X-Seen-Event"] = str(context["seen_event_id"])
        return response
    if ok:
        return redirect("ticket_detail", pk=ticket_id)
    return render(request, "tickets/ticket.html", _context(request, ticket_id, **forms))


@store_required
def ticket_page(request, pk: int):
    # One read of the ticket: _context's is the store's ticket or a 404.
    return render(request, "tickets/ticket.html", _context(request, pk))


def _submit(request, pk: int, *, section: str, form_name: str, form, action, fresh=None):
    """Validate ``form``, run ``action(cleaned_data)`` (a service call), show refusals
    inline; on success the section comes back with ``fresh()`` (an empty form)."""
    ok = False
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc)
        else:
            ok = True
            form = fresh() if fresh else form
    return _respond(request, pk, section, ok=ok, **{form_name: form})


@require_POST
@store_required
def contact_add(request, pk: int):
    ticket = store_ticket_or_404(request, pk)
    return _submit(
        request,
        pk,
        section="contacts",
        form_name="contact_form",
        form=ContactForm(request.POST),
        fresh=_contact_form,
        action=lambda data: contact_log(
            ticket=ticket,
            user=request.user,
            channel=data["channel"],
            attempted_at=data["attempted_at"],
            note=data["note"],
        ),
    )


@require_POST
@store_required
def evidence_add(request, pk: int):
    ticket = store_ticket_or_404(request, pk)
    return _submit(
        request,
        pk,
        section="evidence",
        form_name="evidence_form",
        form=EvidenceForm(request.POST, request.FILES),
        fresh=EvidenceForm,
        action=lambda data: evidence_upload(ticket=ticket, user=request.user, upload=data["file"]),
    )


@store_required
def evidence_download(request, pk: int, evidence_id: int):
    """Only the ticket's own store gets the file; anyone else gets a 404."""
    ticket = store_ticket_or_404(request, pk)
    item = get_object_or_404(Evidence, pk=evidence_id, ticket=ticket)
    return FileResponse(item.file.open("rb"), as_attachment=True, filename=item.original_name)


# Evidence never changes once stored, so the member's own browser may keep it a while;
# "private" keeps it out of shared caches.
_EVIDENCE_CACHE = cache_control(private=True, max_age=3600)


@store_required
@_EVIDENCE_CACHE
def evidence_thumbnail(request, pk: int, evidence_id: int):
    """The thumbnail made at upload (never made here); 404 when there is none."""
    ticket = store_ticket_or_404(request, pk)
    item = get_object_or_404(Evidence, pk=evidence_id, ticket=ticket)
    if not item.thumbnail:
        raise Http404
    return stored_file_response(
        item.thumbnail, content_type=thumbnail_content_type(item.thumbnail.name)
    )


@store_required
@xframe_options_sameorigin  # the ticket page shows PDFs in an <iframe>
@_EVIDENCE_CACHE
def evidence_inline(request, pk: int, evidence_id: int):
    """The original file for the browser to show (image, PDF, audio player)."""
    ticket = store_ticket_or_404(request, pk)
    item = get_object_or_404(Evidence, pk=evidence_id, ticket=ticket)
    return stored_file_response(
        item.file, content_type=item.content_type, filename=item.original_name
    )


@require_POST
@store_required
def reply(request, pk: int):
    ticket = store_ticket_or_404(request, pk)
    options = list(reply_options_for(platform=ticket.store.platform))
    form = ReplyForm(request.POST, options=options, language=translation.get_language())
    if form.is_valid():
        option = form.options[form.cleaned_data["option"]]
        if option.escalates and not request.POST.get("confirm_escalation"):
            # Irreversible: ask first, keeping what was typed (nothing is written yet),
            # unless the reply would be refused anyway: then say why at once.
            try:
                ticket_reply_check(
                    ticket=ticket,
                    option=option,
                    remark=form.cleaned_data["remark"],
                    agreed_at=form.cleaned_data["agreed_at"],
                )
            except ValidationError as exc:
                add_service_error(form, exc)
                return _respond(request, pk, "ticket", ok=False, reply_form=form)
            return _respond(
                request, pk, "ticket", ok=False, reply_form=form, confirm_escalation=option
            )
    return _submit(
        request,
        pk,
        section="ticket",
        form_name="reply_form",
        form=form,
        action=lambda data: ticket_reply(
            ticket=ticket,
            user=request.user,
            option=form.options[data["option"]],
            remark=data["remark"],
            agreed_at=data["agreed_at"],
        ),
    )


@require_POST
@store_required
def exemption(request, pk: int):
    ticket = store_ticket_or_404(request, pk)
    return _submit(
        request,
        pk,
        section="exemption",
        form_name="exemption_form",
        form=ExemptionForm(request.POST),
        fresh=ExemptionForm,
        action=lambda data: exemption_request(
            ticket=ticket, user=request.user, reason=data["reason"], minutes=data["minutes"]
        ),
    )


@require_POST
@store_required
def assign_one(request, pk: int):
    ticket = store_ticket_or_404(request, pk)
    form = AssignForm(request.POST, members=store_members(store=request.store))
    return _submit(
        request,
        pk,
        section="ticket",
        form_name="assign_form",
        form=form,
        action=lambda data: tickets_assign(
            store=request.store,
            user=request.user,
            ticket_ids=[ticket.pk],
            assignee=form.members.get(data["assignee"]),
        ),
    )
