from django.urls import path

from .views import appeals, common, inbox, live, notifications, overview, reports, team, ticket

urlpatterns = [
    path("", inbox.inbox, name="home"),
    path("store/switch/", common.store_switch, name="store_switch"),
    path("tickets/assign/", inbox.assign, name="ticket_assign"),
    path("tickets/<int:pk>/", ticket.ticket_page, name="ticket_detail"),
    path("tickets/<int:pk>/claim/", inbox.claim, name="ticket_claim"),
    path("live/", live.live_events, name="live_events"),
    path("tickets/<int:pk>/contacts/", ticket.contact_add, name="ticket_contact_add"),
    path("tickets/<int:pk>/evidence/", ticket.evidence_add, name="ticket_evidence_add"),
    path(
        "tickets/<int:pk>/evidence/<int:evidence_id>/",
        ticket.evidence_download,
        name="ticket_evidence_download",
    ),
    path(
        "tickets/<int:pk>/evidence/<int:evidence_id>/thumb/",
        ticket.evidence_thumbnail,
        name="ticket_evidence_thumbnail",
    ),
    path(
        "tickets/<int:pk>/evidence/<int:evidence_id>/view/",
        ticket.evidence_inline,
        name="ticket_evidence_inline",
    ),
    path("tickets/<int:pk>/reply/", ticket.reply, name="ticket_reply"),
    path("tickets/<int:pk>/exemption/", ticket.exemption, name="ticket_exemption"),
    path("tickets/<int:pk>/assign/", ticket.assign_one, name="ticket_assign_one"),
    # -- appeals (申诉), the merchant side (tickets/views/appeals.py)
    path("tickets/<int:pk>/appeal/", appeals.ticket_appeal, name="ticket_appeal"),
    path("appeals/", appeals.appeal_list, name="appeals"),
    # -- team, notifications and overview pages (tickets/views/{team,notifications,overview}.py)
    path("overview/", overview.overview, name="overview"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/bell/", notifications.bell, name="notification_bell"),
    path("team/", team.team, name="team"),
    path("team/round-robin/", team.round_robin, name="team_round_robin"),
    path("team/members/<int:pk>/duty/", team.member_duty, name="team_member_duty"),
    path("team/phrases/", team.phrase_add, name="team_phrase_add"),
    path("team/phrases/<int:pk>/delete/", team.phrase_delete, name="team_phrase_delete"),
    # -- nightly day reports and their downloads (tickets/views/reports.py)
    path("reports/", reports.reports, name="reports"),
    path("reports/download.csv", reports.download, {"fmt": "csv"}, name="reports_download_csv"),
    path("reports/download.xlsx", reports.download, {"fmt": "xlsx"}, name="reports_download_xlsx"),
]
