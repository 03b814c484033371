"""One change log for every write path: admin, API and management commands.

django-simple-history records each change of a tracked model. Its middleware supplies the
acting user for admin requests; this module adds two columns to every change-log table:

* ``request_id`` -- the id the response returned in X-Request-ID, or the one a management
  command runs under, so a row leads back to the request or command that wrote it;
* ``actor`` -- who acted: the admin user, the API client (an EES registering itself, say),
  or the command.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.dispatch import receiver
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from .middleware import current_request_id


class ChangeLogBase(models.Model):
    """Extra columns of every historical (change-log) table."""

    request_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    actor = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        abstract = True


def history_user(instance: Any, request: Any, **kwargs: Any) -> AbstractBaseUser | None:
    """The Django user behind a change; API clients are no users (see ``actor``)."""
    user = getattr(request, "user", None) if request is not None else None
    if isinstance(user, AbstractBaseUser) and user.is_authenticated:
        return user
    return None


def change_log(**kwargs: Any) -> HistoricalRecords:
    """The HistoricalRecords every tracked model declares."""
    return HistoricalRecords(bases=[ChangeLogBase], get_user=history_user, **kwargs)


def _actor() -> str:
    request = getattr(HistoricalRecords.context, "request", None)
    if request is None:
        request_id = current_request_id()
        return f"command ({request_id})" if request_id != "-" else "command"
    user = getattr(request, "user", None)
    if isinstance(user, AbstractBaseUser):
        return user.get_username() if user.is_authenticated else "anonymous"
    return str(user) if user is not None else "anonymous"


@receiver(pre_create_historical_record)
def _stamp_change(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    if hasattr(history_instance, "request_id"):
        request_id = current_request_id()
        history_instance.request_id = "" if request_id == "-" else request_id
        history_instance.actor = _actor()[:255]
