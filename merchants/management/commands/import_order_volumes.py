from django.core.management.base import BaseCommand, CommandError

from merchants.imports import OrderVolumeImportError, order_volumes_import


class Command(BaseCommand):
    help = (
        "Import paid orders per store and day from a CSV file (店铺编码,日期,支付订单数,支付金额 "
        "or store_code,date,paid_orders,paid_amount; UTF-8 or GB18030). All rows or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument(
            "--no-replace",
            action="store_true",
            help="Refuse the file if a store already has paid orders for one of its days "
            "(by default those days are overwritten).",
        )

    def handle(self, *args, file, no_replace=False, **options):
        try:
            with open(file, "rb") as handle:
                result = order_volumes_import(file=handle, replace=not no_replace)
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror or error}") from error
        except OrderVolumeImportError as error:
            for row_error in error.row_errors:
                self.stderr.write(str(row_error))
            raise CommandError(
                f"{file}: {len(error.row_errors)} error(s); nothing was imported."
            ) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {result.total} row(s) imported: "
                f"created={result.created} updated={result.updated}"
            )
        )
