from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ArbitrationConfig(AppConfig):
    name = "arbitration"
    verbose_name = _("Arbitration")

    def ready(self):
        from .roles import ensure_staff_groups

        # After every migrate (permissions exist by then), keep the role groups in step.
        post_migrate.connect(ensure_staff_groups, sender=self)
        # Hand the services' after-commit work (report back-fills) to Celery.
        from . import receivers  # noqa: F401
