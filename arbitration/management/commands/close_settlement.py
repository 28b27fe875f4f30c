"""Close a month's JD settlement from the command line (re-running replaces it)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from arbitration.penalties import parse_month, settlement_close_month


class Command(BaseCommand):
    help = (
        "Close an Asia/Shanghai month for every JD store: fines off the payable amount, "
        "then off the deposit (never below zero). Re-closing replaces the statements."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="The month to close, YYYY-MM")

    def handle(self, *args, **options):
        value = options["month"]
        try:
            month = parse_month(value)
        except ValueError:
            raise CommandError(f"--month must be a month as YYYY-MM, not {value!r}.") from None
        try:
            statements = settlement_close_month(month=month)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        codes = {s.store_id: s.store.code for s in statements}
        for s in sorted(statements, key=lambda s: codes[s.store_id]):
            self.stdout.write(
                f"{codes[s.store_id]}: payable {s.payable} fines {s.fines} "
                f"net payable {s.net_payable} deposit {s.deposit_before} -> {s.deposit_after} "
                f"shortfall {s.shortfall} points {s.points_in_window} "
                f"closure {'YES' if s.closure_flag else 'no'}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{month:%Y-%m}: {len(statements)} JD store statement(s).")
        )
