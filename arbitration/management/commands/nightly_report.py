"""Back-fill the nightly store reports for a day or a range of days."""

import sys
import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from arbitration.reports import report_day

MAX_DAYS = 731


class Command(BaseCommand):
    help = "Compute the store day reports for --date (and through --to); re-running replaces."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="First Asia/Shanghai day, YYYY-MM-DD")
        parser.add_argument("--to", help="Last day, YYYY-MM-DD (default: --date)")

    def handle(self, *args, **options):
        first = self._day(options["date"], "--date")
        last = self._day(options["to"], "--to") if options["to"] else first
        if last < first:
            raise CommandError("--to is before --date.")
        total = (last - first).days + 1
        if total > MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days at a time.")
        tty = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()
        started = time.perf_counter()
        rows = 0
        for index in range(total):
            day = first + timedelta(days=index)
            took = time.perf_counter()
            rows += report_day(day=day)
            took = time.perf_counter() - took
            if tty:
                done = int(30 * (index + 1) / total)
                bar = "#" * done + "-" * (30 - done)
                self.stdout.write(f"\r[{bar}] {index + 1}/{total} {day}", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(f"{day}: done in {took:.2f} s")
        if tty:
            self.stdout.write("")
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{total} day(s) from {first} to {last}: {rows} store rows in {elapsed:.1f} s"
            )
        )

    @staticmethod
    def _day(value: str, flag: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"{flag} must be a date as YYYY-MM-DD, not {value!r}.") from None
