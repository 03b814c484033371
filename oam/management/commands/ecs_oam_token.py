"""``manage.py ecs_oam_token USERNAME``: an OAM API token for a user; the key is the last line.

For scripts that set up automation: ``--create-user`` makes the user (without a usable
password: it signs in with tokens only), ``--group`` puts it in the ``operator`` or
``auditor`` group, whose permissions the token then has.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from access.roles import AUDITOR, OPERATOR
from ecscore.datetimes import format_datetime

from ...models import OAMToken


class Command(BaseCommand):
    help = "Create an OAM API token for a user and print its key (the last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )
        parser.add_argument(
            "--group", choices=[OPERATOR, AUDITOR], help="add the user to this role group"
        )
        parser.add_argument("--expires-days", type=int, help="the token expires after N days")
        parser.add_argument("--read-only", action="store_true", help="the token only reads")
        parser.add_argument("--description", default="", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days: at least 1")
        users = get_user_model()
        with transaction.atomic():
            user = users.objects.filter(**{users.USERNAME_FIELD: options["username"]}).first()
            if user is None:
                if not options["create_user"]:
                    raise CommandError(f"no user {options['username']!r} (--create-user makes one)")
                user = users.objects.create_user(options["username"])
                user.set_unusable_password()
                user.save()
                self.stdout.write(f"created user {user.get_username()}")
            if options["group"]:
                # The groups are made by every migrate (access.roles); missing means no migrate.
                group = Group.objects.filter(name=options["group"]).first()
                if group is None:
                    raise CommandError(f"no group {options['group']!r}: run migrate first")
                user.groups.add(group)
                self.stdout.write(f"{user.get_username()} is in group {group.name}")
            expires = timezone.now() + dt.timedelta(days=days) if days else None
            token, key = OAMToken.objects.issue(
                user,
                expires=expires,
                read_only=options["read_only"],
                description=options["description"],
            )
        what = "read-only token" if token.read_only else "token"
        until = f", expires {format_datetime(token.expires)}" if token.expires else ""
        self.stdout.write(f"{what} {token.prefix}… for {user.get_username()}{until}")
        self.stdout.write("send it as Authorization: Token <key>; it is not shown again:")
        self.stdout.write(key)
