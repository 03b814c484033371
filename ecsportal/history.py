"""One change log for every write path: admin, API and management commands.

django-simple-history records each change of a tracked model. Its middleware supplies the
acting user for web requests; this module adds the request id (the same one the response
returns in X-Request-ID, or the one a management command runs under), so a row in the
change log leads back to the request or command that wrote it.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from .middleware import current_request_id


class ChangeLogBase(models.Model):
    """Extra columns of every historical (change-log) table."""

    request_id = models.CharField(max_length=128, blank=True, default="", db_index=True)

    class Meta:
        abstract = True


@receiver(pre_create_historical_record)
def _stamp_request_id(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    if hasattr(history_instance, "request_id"):
        request_id = current_request_id()
        history_instance.request_id = "" if request_id == "-" else request_id
