"""Revoke intake API tokens: by id (as create_api_token prints it) or all of one account's."""

from django.core.management.base import BaseCommand, CommandError

from tickets.models import ApiToken
from tickets.services.tokens import api_tokens_revoke


class Command(BaseCommand):
    help = "Revoke intake API tokens; a request with a revoked token gets 401 at once."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--id", type=int, action="append", dest="ids", help="A token's id.")
        group.add_argument("--username", help="Revoke every token of this service account.")

    def handle(self, *args, ids: list[int] | None, username: str | None, **options):
        tokens = ApiToken.objects.filter(revoked_at__isnull=True)
        if ids:
            found = ApiToken.objects.filter(pk__in=ids).values_list("pk", flat=True)
            missing = set(ids) - set(found)
            if missing:
                raise CommandError(f"No API token with id {', '.join(map(str, sorted(missing)))}.")
            tokens = tokens.filter(pk__in=ids)
        else:
            tokens = tokens.filter(user__username=username)
        count = api_tokens_revoke(tokens=list(tokens))
        self.stderr.write(f"Revoked {count} API token(s).")
