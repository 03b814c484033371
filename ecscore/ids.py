"""Resource ids that the database can index cheaply at any table size.

A random id (``uuid4``) lands on a random page of its unique index, so every insert into a
table of millions touches a page that is seldom in memory. ``time_ordered`` puts the time
first (milliseconds, as UUIDv7 does) and 80 random bits after it: new ids go to the right edge
of the index, and an id is still not to be guessed from another.
"""

from __future__ import annotations

import secrets
import time


def time_ordered() -> str:
    """32 lowercase hex digits: 48 bits of Unix time in milliseconds, then 80 random bits."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"
