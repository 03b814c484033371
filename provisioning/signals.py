"""``inventory_changed``: sent inside the transaction of any change to what we provision.

Sent after the change and its index rows are written, so receivers (subscription
evaluation) see the new state, and what they write commits or rolls back with the change.
``deferred()`` collapses the signals of a bulk change (ecs_apply) into one at its end.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal

inventory_changed = Signal()

_deferred: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "inventory_deferred", default=None
)


def changed(sender: Any) -> None:
    pending = _deferred.get()
    if pending is not None:
        pending.append(True)
        return
    inventory_changed.send(sender=sender)


@contextmanager
def deferred(sender: Any) -> Iterator[None]:
    if _deferred.get() is not None:  # already deferring: the outer block sends
        yield
        return
    pending: list[bool] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    if pending:
        inventory_changed.send(sender=sender)
