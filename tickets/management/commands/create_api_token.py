"""Issue a bearer token for the platform CS system's service account.

The raw key goes to stdout once (so it can be piped into a secret store) and is
never kept; everything else goes to stderr.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from tickets.models import ApiToken
from tickets.services.tokens import api_token_create

PERMISSION = ("tickets", "use_intake_api")
# What the CS actions' services ask (tickets/api_actions.py): confirm, object, notes, evidence.
ACTION_PERMISSIONS = ("confirm_ticket", "escalate_ticket", "change_ticket", "add_evidence")


class Command(BaseCommand):
    help = (
        "Create an intake API token for a service account (created if missing, without a "
        "password) and print the raw key once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True, help="The service account's username.")
        parser.add_argument(
            "--name", default="intake API", help="A label for the token (default: %(default)s)."
        )
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Expire the token after this many days (default: never; revoke it in admin "
            "or with `manage.py revoke_api_token`).",
        )
        parser.add_argument(
            "--cs-actions",
            action="store_true",
            help="Also let the account confirm, escalate on objection, add notes and "
            "evidence through the API (" + ", ".join(ACTION_PERMISSIONS) + ").",
        )

    def handle(
        self,
        *args,
        username: str,
        name: str,
        days: int | None,
        cs_actions: bool = False,
        **options,
    ):
        user_model = get_user_model()
        username = username.strip()
        name = name.strip()
        self._check_input(user_model, username=username, name=name)
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None

        app_label, codename = PERMISSION
        try:
            permission = Permission.objects.get(
                content_type__app_label=app_label, codename=codename
            )
        except Permission.DoesNotExist:
            raise CommandError(
                f"Permission {app_label}.{codename} is missing; run `manage.py migrate` first."
            ) from None

        with transaction.atomic():
            user, created = user_model._default_manager.get_or_create(
                **{user_model.USERNAME_FIELD: username}, defaults={"is_staff": False}
            )
            if created:
                # A machine account: nobody logs in with it, only its token is used.
                user.set_unusable_password()
                user.save(update_fields=["password"])
            elif not user.is_active:
                raise CommandError(f"User {username!r} is inactive; its token would not work.")
            user.user_permissions.add(permission)
            if cs_actions:
                user.user_permissions.add(
                    *Permission.objects.filter(
                        content_type__app_label=app_label, codename__in=ACTION_PERMISSIONS
                    )
                )
            token, raw_key = api_token_create(user=user, name=name, expires_at=expires_at)

        self.stderr.write(
            f"{'Created' if created else 'Using existing'} user {username!r}; "
            f"token {token.name!r} (id {token.pk}), "
            f"{'expires ' + token.expires_at.isoformat() if expires_at else 'no expiry'}. "
            "The key below is shown only this once."
        )
        self.stdout.write(raw_key)

    @staticmethod
    def _check_input(user_model, *, username: str, name: str) -> None:
        if not username:
            raise CommandError("--username must not be empty.")
        username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        try:
            username_field.clean(username, None)
        except ValidationError as exc:
            raise CommandError(
                f"Invalid --username {username!r}: {' '.join(exc.messages)}"
            ) from None
        if not name:
            raise CommandError("--name must not be empty.")
        max_name = ApiToken._meta.get_field("name").max_length
        if len(name) > max_name:
            raise CommandError(f"--name must be at most {max_name} characters.")
