from django.core.management.base import BaseCommand
from django.utils import timezone

from tickets.services.sweeps import sweep_run


class Command(BaseCommand):
    help = "Run one deadline sweep now (the same code beat runs every minute) and print counts."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args, batch_size=None, **options):
        result = sweep_run(now=timezone.now(), batch_size=batch_size)
        if result.skipped_locked:
            self.stdout.write(self.style.WARNING("Another sweep is running; nothing done."))
            return
        self.stdout.write(
            f"escalated={result.escalated} confirmed={result.confirmed} "
            f"reminders={result.reminders} deliveries_queued={result.deliveries_queued} "
            f"batches={result.batches}"
        )
