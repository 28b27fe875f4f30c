"""Platform staff roles as Django groups (SPEC.md "People"); kept in step after every migrate."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

VIEW_ALL = [
    ("tickets", "view_ticket"),
    ("tickets", "view_ticketevent"),
    ("tickets", "view_contactattempt"),
    ("tickets", "view_evidence"),
    ("tickets", "view_reply"),
    ("tickets", "view_exemptionrequest"),
    ("merchants", "view_store"),
    ("arbitration", "view_judgment"),
    ("arbitration", "view_compensation"),
    ("arbitration", "view_violation"),
    ("arbitration", "view_appeal"),
    ("arbitration", "view_appealevidence"),
]

ROLES: dict[str, list[tuple[str, str]]] = {
    # Platform CS: opens tickets, confirms settled replies, escalates on objection.
    "cs_agent": VIEW_ALL
    + [
        ("tickets", "confirm_ticket"),
        ("tickets", "escalate_ticket"),
        ("tickets", "use_intake_api"),
    ],
    # Arbitrators judge escalated tickets and mark forged evidence.
    "arbitrator": VIEW_ALL
    + [
        ("tickets", "judge_ticket"),
        ("tickets", "compensate_ticket"),
        ("tickets", "mark_evidence_forged"),
        # Appeals (申诉): decided by an arbitrator other than the one who decided.
        ("arbitration", "decide_appeal"),
    ],
    # Ops: policies, calendars, reply options, stores, exemptions, penalties, reports.
    "ops": VIEW_ALL
    + [
        ("tickets", "decide_exemption"),
        # Who changed what through the admin and the API (read-only for everyone).
        ("audit", "view_auditentry"),
        # The appeal window is data ops keep.
        ("arbitration", "view_appealpolicy"),
        ("arbitration", "change_appealpolicy"),
        ("tickets", "view_policy"),
        ("tickets", "change_policy"),
        ("tickets", "view_workingcalendar"),
        ("tickets", "add_workingcalendar"),
        ("tickets", "change_workingcalendar"),
        ("tickets", "view_calendarexception"),
        ("tickets", "add_calendarexception"),
        ("tickets", "change_calendarexception"),
        ("tickets", "delete_calendarexception"),
        ("tickets", "view_replyoption"),
        ("tickets", "add_replyoption"),
        ("tickets", "change_replyoption"),
        ("merchants", "add_store"),
        ("merchants", "change_store"),
        ("merchants", "view_membership"),
        ("merchants", "add_membership"),
        ("merchants", "change_membership"),
        ("merchants", "delete_membership"),
        ("merchants", "view_dailyordervolume"),
        ("merchants", "add_dailyordervolume"),
        ("merchants", "change_dailyordervolume"),
        ("arbitration", "view_storedayreport"),
        ("arbitration", "view_penaltyentry"),
        ("arbitration", "view_penaltyrule"),
        ("arbitration", "add_penaltyrule"),
        ("arbitration", "change_penaltyrule"),
        ("arbitration", "view_penaltypolicy"),
        ("arbitration", "change_penaltypolicy"),
        ("arbitration", "view_settlementstatement"),
        ("arbitration", "add_settlementstatement"),
    ],
}


def ensure_staff_groups(**kwargs) -> None:
    """Create or update the role groups; safe to run any number of times."""
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        query = Q(pk__in=[])
        for app_label, codename in perms:
            query |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.add(*Permission.objects.filter(query))
