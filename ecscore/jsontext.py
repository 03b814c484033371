"""JSON as this ECS accepts it from clients: only what every database can store.

RFC 8259 JSON can hold what neither PostgreSQL's ``json``/``jsonb`` nor SQLite's JSON
functions take: numbers out of the double range (``1e999`` parses to infinity), the
non-standard ``NaN`` and ``Infinity`` that Python's parser accepts, lone UTF-16 surrogates
(``"\\ud800"``, not Unicode text, which no UTF-8 column holds) and NUL characters.  Stored, they
end in a database error (a 500); refused where the body is parsed, they are a 400 naming the
member.  ``loads`` parses (reading ``NaN``/``Infinity`` as numbers so that ``problem`` can name
where they stand), ``problem`` finds the first value that cannot be stored, as a JSON pointer
(RFC 6901) and a reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a pair is decoded to one character

NOT_FINITE = "is not a finite number"
LONE_SURROGATE = "holds a lone UTF-16 surrogate (not Unicode text)"
NUL = "holds a NUL character"


def loads(raw: bytes | str) -> Any:
    """The JSON document in ``raw``; raises ``ValueError`` (or ``RecursionError``) as
    ``json.loads`` does.  Check the result with ``problem`` before using it."""
    return json.loads(raw, parse_constant=float)


def token(key: str) -> str:
    """One member name as a JSON pointer reference token (RFC 6901: ``~`` and ``/`` escaped)."""
    return key.replace("~", "~0").replace("/", "~1")


def scalar_problem(value: Any) -> str:
    """Why a string or number cannot be stored, or ''."""
    if isinstance(value, str):
        if "\x00" in value:
            return NUL
        if _LONE_SURROGATE.search(value):
            return LONE_SURROGATE
    elif isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    return ""


def name_problem(name: str) -> str:
    """Why a member name cannot be stored, or '' (said of the object that holds it)."""
    problem = scalar_problem(name)
    return f"a member name {problem}" if problem else ""


def problem(value: Any) -> tuple[str, str] | None:
    """The first value of the document that cannot be stored: (JSON pointer, reason).

    A bad member name is reported at the object holding it: the name itself is never put in
    the pointer (a lone surrogate could not even be written into the answer).
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            for key in node:
                reason = name_problem(key)
                if reason:
                    return pointer, reason
            stack.extend((child, f"{pointer}/{token(key)}") for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, f"{pointer}/{i}") for i, child in enumerate(node))
        else:
            reason = scalar_problem(node)
            if reason:
                return pointer, reason
    return None
