"""3GPP ``DateTime`` values (TS 29.571: RFC 3339 with a time zone), and granted expiries.

Every API of ours speaks the same DateTime and grants expiries the same way (EES
registrations, EEC subscriptions, partner subscriptions), so both live here once.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from . import errors


def format_datetime(value: dt.datetime) -> str:
    """A 3GPP DateTime (RFC 3339, UTC, whole seconds)."""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# RFC 3339 section 5.6 date-time. "T" and "Z" may be lower case (the note there; the schemas'
# date-time format accepts them); fromisoformat does not take them, and takes forms RFC 3339
# does not have (no seconds, no zone, basic format, week dates).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # digits are 0-9, not any script's
)


def parse_datetime(value: str) -> dt.datetime | None:
    """A 3GPP DateTime (RFC 3339 date-time) as an aware datetime; ``None`` when it is not one."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if match.group(8):
        zone = dt.UTC
    else:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = dt.timedelta(hours=offset_hours, minutes=offset_minutes)
        zone = dt.timezone(-offset if match.group(9) == "-" else offset)
    leap = second == 60  # a leap second (RFC 3339 allows 60): the instant after :59
    try:
        parsed = dt.datetime(
            year, month, day, hour, minute, 59 if leap else second, micro, tzinfo=zone
        )
    except ValueError:  # month 13, February 30, hour 24, ...
        return None
    return parsed + dt.timedelta(seconds=1) if leap else parsed


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
