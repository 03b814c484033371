"""3GPP ``DateTime`` values (TS 29.571: RFC 3339 with a time zone), and granted expiries.

Every API of ours speaks the same DateTime and grants expiries the same way (EES
registrations, EEC subscriptions, partner subscriptions), so both live here once.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from . import errors


def format_datetime(value: dt.datetime) -> str:
    """A 3GPP DateTime (RFC 3339, UTC, whole seconds)."""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> dt.datetime | None:
    """A 3GPP DateTime as an aware datetime; ``None`` when it is not one (or has no zone)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def granted_expiry(
    proposed: str | None, max_seconds: float, pointer: str = "/expTime"
) -> dt.datetime:
    """The expiry we grant: the proposed one, capped at ``max_seconds`` from now; the cap
    when none is proposed. A proposal that is no future DateTime is refused, naming
    ``pointer``."""
    latest = timezone.now() + dt.timedelta(seconds=max_seconds)
    if not proposed:
        return latest
    when = parse_datetime(proposed)
    if when is None or when <= timezone.now():
        member = pointer.rsplit("/", 1)[-1]
        raise errors.InvalidRequest(
            f"{member} must be a future date-time.",
            "INVALID_MSG_FORMAT",
            [{"param": pointer, "reason": "must be a date-time in the future"}],
        )
    return min(when, latest)
