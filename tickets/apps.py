from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Collaborative tickets")

    def ready(self):
        # Connect the receivers that hand the services' after-commit work to Celery.
        from . import receivers  # noqa: F401
