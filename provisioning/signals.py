"""``inventory_changed``: sent inside the transaction of any change to what we provision.

Sent after the change and its index rows are written, with the change's ``scope``
(``provisioning.scope.ChangeScope``: the requests that may now get another answer). The
receiver (``provisioning.changes``) records it as a change event in the same transaction, so
the event commits or rolls back with the change and the worker evaluates the subscriptions it
can affect. ``deferred()`` collapses the signals of a bulk change (ecs_apply) into one at its
end, with the scopes merged.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal

from . import scope as scopes

inventory_changed = Signal()

_deferred: contextvars.ContextVar[list[scopes.ChangeScope] | None] = contextvars.ContextVar(
    "inventory_deferred", default=None
)


def changed(sender: Any, scope: scopes.ChangeScope = scopes.EVERYTHING) -> None:
    """Announce a change; without a scope, one that may change every answer."""
    pending = _deferred.get()
    if pending is not None:
        pending.append(scope)
        return
    inventory_changed.send(sender=sender, scope=scope)


@contextmanager
def deferred(sender: Any) -> Iterator[None]:
    if _deferred.get() is not None:  # already deferring: the outer block sends
        yield
        return
    pending: list[scopes.ChangeScope] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    if pending:
        merged = scopes.NOTHING
        for one in pending:
            merged = merged.merge(one)
        inventory_changed.send(sender=sender, scope=merged)
