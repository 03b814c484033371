"""3GPP DateTime: RFC 3339 section 5.6 date-time, no more and no less."""

from __future__ import annotations

import datetime as dt

import pytest

from ecscore.datetimes import format_datetime, parse_datetime

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:00Z", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        # RFC 3339 5.6, note: "T" and "Z" may alternatively be lower case.
        ("2026-11-25t10:00:00z", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25t10:00:00Z", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00.5Z", dt.datetime(2026, 11, 25, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-25T10:00:00.123456789Z", dt.datetime(2026, 11, 25, 10, 0, 0, 123456, UTC)),
        ("2026-11-25T12:00:00+02:00", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T04:30:00-05:30", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2026-11-25T10:00:00-00:00", dt.datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", dt.datetime(2017, 1, 1, tzinfo=UTC)),  # a leap second
    ],
)
def test_rfc_3339_date_times_are_parsed(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T10:00:00",  # no time zone
        "2026-11-25 10:00:00Z",  # a space: allowed by the note, not by the schemas' format
        "2026-11-25T10:00Z",  # no seconds
        "20261125T100000Z",  # ISO 8601 basic format
        "2026-W48-3T10:00:00Z",  # a week date
        "2026-11-25T10:00:00+0200",  # an offset without its colon
        "2026-02-30T10:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T10:00:00+24:00",
        "2026-11-25T10:00:00.Z",
        "٢٠٢٦-11-25T10:00:00Z",  # digits of another script
        "",
        "soon",
    ],
)
def test_what_is_not_an_rfc_3339_date_time_is_refused(text):
    assert parse_datetime(text) is None


def test_what_we_format_we_parse():
    now = dt.datetime.now(UTC).replace(microsecond=0)
    assert parse_datetime(format_datetime(now)) == now
