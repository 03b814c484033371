"""What the fuzzing tests share (tests/fuzz, tests/oam/test_fuzz_oam.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@contextmanager
def in_this_transaction() -> Iterator[None]:
    """What Django's test client does around each request: Django closes "old" database
    connections when a request starts and ends, which would end (on PostgreSQL, close) the
    transaction the test runs in."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
