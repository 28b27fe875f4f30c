from django.core.management.base import BaseCommand

from tickets.services.evidence_reuse import evidence_fingerprints_backfill


class Command(BaseCommand):
    help = (
        "Fingerprint evidence uploaded before fingerprints existed (SHA-256 matches, image "
        "dHash, EXIF capture date) and flag reused files. Safe to run again: fingerprinted "
        "files are left alone."
    )

    def handle(self, *args, **options):
        result = evidence_fingerprints_backfill()
        self.stdout.write(
            f"fingerprinted={result.done} flagged={result.flagged} missing_files={result.missing}"
        )
