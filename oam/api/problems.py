"""The configuration file's messages as ProblemDetails ``invalidParams``.

The file's validation (``ecscore.configfile`` and the sections of provisioning and partners)
says what is wrong as ``<label>.<key>[i]/member: reason``. The API runs the same validation
with an empty label, so each message starts with the member's path; here that path becomes a
JSON pointer (``.plmns[0]/mnc`` -> ``/plmns/0/mnc``), so there is one validation and one
wording, and the API names members the way RFC 6901 does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ecscore import errors

_INDEX = re.compile(r"\[(\d+)\]")


def pointer_of(path: str) -> str:
    path = _INDEX.sub(r"/\1", path.strip()).replace(".", "/")
    path = re.sub(r"/+", "/", path)
    return path if path.startswith("/") else "/" + path


def invalid_params(messages: Iterable[str], prefix: str = "") -> list[dict[str, str]]:
    """``[{"param": pointer, "reason": ...}]`` for label-less file messages; ``prefix``
    (``/3``: the item of a list body) goes before each pointer."""
    params = []
    for message in messages:
        path, sep, reason = message.partition(": ")
        if not sep:
            path, reason = "", message
        pointer = pointer_of(path).rstrip("/") if path else ""
        params.append({"param": (prefix + pointer) or "/", "reason": reason})
    return params


def invalid(messages: Iterable[str], prefix: str = "") -> errors.InvalidRequest:
    """The InvalidRequest (400) for these messages."""
    params = invalid_params(messages, prefix)
    return errors.InvalidRequest("The request is not valid.", invalid_params=params)


def prefixed(params: list[dict[str, str]] | None, prefix: str) -> list[dict[str, str]]:
    return [
        {**p, "param": prefix + ("" if p["param"] == "/" else p["param"])} for p in params or []
    ]
