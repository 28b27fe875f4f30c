from django.core.management.base import BaseCommand

from tickets.services.evidence import evidence_thumbnails_backfill


class Command(BaseCommand):
    help = (
        "Make the missing thumbnails of image evidence uploaded before thumbnails existed. "
        "Safe to run again: files that have one are left alone."
    )

    def handle(self, *args, **options):
        result = evidence_thumbnails_backfill()
        self.stdout.write(
            f"made={result.made} not_decodable={result.failed} missing_files={result.missing}"
        )
