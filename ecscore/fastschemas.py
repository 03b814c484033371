"""The 3GPP schemas compiled by jsonschema-rs, with the verdicts of the OpenAPI 3.0 validator.

``ecscore.schemas`` validates with ``openapi_schema_validator``'s ``OAS30Validator`` (pure
Python): its errors become the ``invalidParams`` of our ProblemDetails.  Deciding only *whether*
a body is valid is most of the work on every request, and a compiled validator does it in a
fraction of the time.  This module translates each OpenAPI 3.0 schema once, at load, into a
JSON Schema that jsonschema-rs (Draft 4, the dialect OpenAPI 3.0 extends) judges exactly as
``OAS30Validator`` does:

- ``nullable: true`` beside ``type`` becomes a type list with ``"null"``;
- a ``$ref`` with sibling keywords becomes ``allOf: [{$ref}]`` beside them (``OAS30Validator``
  applies the siblings; Draft 4 would ignore them);
- ``required`` leaves out members whose schema is ``readOnly`` or ``writeOnly``, as
  ``OAS30Validator`` does in both directions;
- a ``pattern`` is rewritten to Python's ``re.search`` meaning: ``$`` also matches before a
  final newline, ``\\d`` is every Unicode decimal digit; a pattern using anything else than a
  small, known-equal subset of the syntax is checked by Python's ``re`` itself (a keyword
  calling back into Python);
- ``format`` is checked by the very functions of ``oas30_format_checker`` (``FORMAT_CHECKER``;
  ``int32``/``int64`` by a keyword, as jsonschema-rs checks formats of strings only); formats
  that checker does not know, or that hold for every JSON value (``float``, ``double``,
  ``binary``, ``password``), are dropped;
- ``discriminator`` beside ``anyOf``/``oneOf``/``allOf`` (which ``OAS30Validator`` resolves)
  cannot be translated: such a schema gets no compiled validator.

The differential property test (``tests/ecsportal/test_compiled_schemas.py``) holds the two
to the same verdict on generated bodies of every schema the APIs validate.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import FormatChecker
from openapi_schema_validator import oas30_format_checker

#: Values of these keywords are data, not schemas.
_DATA_KEYWORDS = frozenset({"enum"})
#: Keywords that assert nothing (to OAS30Validator either): dropped, so that a ``$ref`` with
#: only a description beside it stays a plain reference.
_DROPPED = frozenset(
    {"description", "title", "example", "default", "externalDocs", "xml", "deprecated"}
    | {"nullable", "discriminator", "readOnly", "writeOnly"}  # translated where they matter
)
#: Formats whose oas30_format_checker function is true of every JSON value.
_NO_OP_FORMATS = frozenset({"float", "double", "binary", "password"})
#: Formats of integers: oas30_format_checker checks them on Python ints (not bools) only.
_INT_FORMATS = {"int32": 1 << 31, "int64": 1 << 63}

#: oas30_format_checker, except that a ``byte`` string that is not ASCII is not base64 (its
#: check raised UnicodeEncodeError, a 500 for a ``gli`` of an EDGE-4 ``n3gaLocation``).  Both
#: validators check formats with it.
FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_CHECKER.checkers = dict(oas30_format_checker.checkers)
_byte, _byte_raises = FORMAT_CHECKER.checkers["byte"]
FORMAT_CHECKER.checkers["byte"] = (_byte, (*_byte_raises, UnicodeEncodeError))

_INT_KEYWORD = "x-ecs-int-format"
_PATTERN_KEYWORD = "x-ecs-python-pattern"
_UNTRANSLATABLE_KEYWORD = "x-ecs-untranslatable"

#: Escapes whose meaning is one literal character in both Python's re and Rust's regex.
_LITERAL_ESCAPES = frozenset(".-\\/()[]{}*+?|^$")


class UntranslatableSchema(ValueError):
    """The schema uses something whose OpenAPI 3.0 meaning has no exact translation."""


@cache
def _python_digits() -> str:
    """Every character Python's ``\\d`` matches in a str pattern, as character-class ranges.

    jsonschema-rs reads ``\\d`` as ECMA 262 does (ASCII only); Python's ``re`` takes every
    Unicode decimal digit (its ``str.isdecimal``).
    """
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if chr(code).isdecimal():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


def translate_pattern(pattern: str) -> str | None:
    """``pattern`` rewritten so that Rust's regex finds a match exactly where Python's
    ``re.search`` does, or None when it uses syntax outside the subset known to mean the same.
    """
    out: list[str] = []
    in_class = False
    class_start = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped == "d":
                out.append(_python_digits() if in_class else f"[{_python_digits()}]")
            elif escaped in _LITERAL_ESCAPES and escaped:
                out.append(char + escaped)
            else:
                return None  # \w, \s, \b, \Z, back-references ... differ or do not exist
            i += 2
            continue
        if in_class:
            if char == "]" and i > class_start:
                in_class = False
            elif char == "[" or (char in "&-~" and pattern[i + 1 : i + 2] == char):
                return None  # nested classes and set operations are Rust's alone
            out.append(char)
        elif char == "[":
            in_class = True
            # A "]" first in the class (after an optional "^") is a literal in Python.
            class_start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
            out.append(char)
        elif char == "$":
            # Python's $ (no MULTILINE) matches at the end and before a final newline.
            out.append("\\n?$")
        elif char == "(" and pattern[i + 1 : i + 2] == "?":
            if pattern[i + 2 : i + 3] != ":":
                return None  # named groups, look-around, inline flags
            out.append("(?:")
            i += 3
            continue
        elif char in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return None  # possessive quantifiers (Python 3.11+)
        else:
            out.append(char)
        i += 1
    return None if in_class else "".join(out)


class _IntFormat:
    """``format: int32``/``int64`` as oas30_format_checker checks them: ints (not bools) only."""

    def __init__(self, parent_schema: dict[str, Any], value: int, schema_path: Any) -> None:
        self.bound = value

    def validate(self, instance: Any) -> None:
        is_int = isinstance(instance, int) and not isinstance(instance, bool)
        if is_int and not -self.bound <= instance < self.bound:
            raise ValueError(f"{instance} is out of range")


class _PythonPattern:
    """A pattern with no exact translation, searched by Python's ``re`` as OAS30Validator does."""

    def __init__(self, parent_schema: dict[str, Any], value: str, schema_path: Any) -> None:
        self.regex = re.compile(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and self.regex.search(instance) is None:
            raise ValueError(f"{instance!r} does not match {self.regex.pattern!r}")


class _Untranslatable:
    """Stands for a schema with no exact translation: compiling a schema that reaches it fails."""

    def __init__(self, parent_schema: dict[str, Any], value: str, schema_path: Any) -> None:
        raise UntranslatableSchema(value)

    def validate(self, instance: Any) -> None:  # pragma: no cover - never constructed
        raise UntranslatableSchema("untranslatable")


def _format_function(name: str) -> Callable[[str], bool]:
    function, raises = FORMAT_CHECKER.checkers[name]

    def check(value: str) -> bool:
        try:
            return bool(function(value))
        except raises:
            # FormatChecker.check turns these into a failed check; anything else propagates
            # (and the caller falls back to OAS30Validator, which raises it as it always has).
            return False

    return check


def _translate(node: Any) -> Any:
    if isinstance(node, list):
        return [_translate(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "discriminator" in node and ({"anyOf", "oneOf", "allOf"} & node.keys()):
        # Refused when a schema reaching it is compiled, not when the registry is built.
        return {_UNTRANSLATABLE_KEYWORD: "discriminator beside anyOf/oneOf/allOf"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            out[key] = value
        elif key in _DROPPED:
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _translate(schema) for name, schema in value.items()}
        elif key == "format":
            if value in _INT_FORMATS:
                out[_INT_KEYWORD] = _INT_FORMATS[value]
            elif value in FORMAT_CHECKER.checkers and value not in _NO_OP_FORMATS:
                out[key] = value
        elif key == "pattern" and isinstance(value, str):
            translated = translate_pattern(value)
            if translated is None:
                out[_PATTERN_KEYWORD] = value
            else:
                out[key] = translated
        elif key == "required" and isinstance(value, list):
            properties = node.get("properties") or {}
            out[key] = [
                name
                for name in value
                if not (
                    isinstance(properties.get(name), dict)
                    and (properties[name].get("readOnly") or properties[name].get("writeOnly"))
                )
            ]
            if not out[key]:
                del out[key]  # Draft 4 wants a non-empty list
        elif key == "$ref":
            out[key] = value
        else:
            out[key] = _translate(value)
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
    return out


def _translated_document(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.get("components", {}).get("schemas", {})
    return {"components": {"schemas": {n: _translate(s) for n, s in schemas.items()}}}


def registry(documents: dict[str, dict[str, Any]], base_uri: str) -> jsonschema_rs.Registry:
    """Every document translated, under ``base_uri`` + its name (as ``$ref`` names them)."""
    return jsonschema_rs.Registry(
        [(base_uri + name, _translated_document(doc)) for name, doc in documents.items()],
        draft=jsonschema_rs.Draft4,
    )


def compile_schema(registry_: jsonschema_rs.Registry, uri: str) -> jsonschema_rs.Validator:
    """A jsonschema-rs validator judging the schema at ``uri`` as OAS30Validator does.

    Raises ``UntranslatableSchema`` (or jsonschema-rs's own errors) when it cannot; nothing is
    ever fetched: every reference resolves inside the registry.
    """
    formats = {
        name: _format_function(name)
        for name in FORMAT_CHECKER.checkers
        if name not in _NO_OP_FORMATS and name not in _INT_FORMATS
    }
    return jsonschema_rs.Draft4Validator(
        {"$ref": uri},
        registry=registry_,
        formats=formats,
        validate_formats=True,
        ignore_unknown_formats=True,
        # Linear-time matching: no pattern of ours needs backtracking.
        pattern_options=jsonschema_rs.RegexOptions(),
        keywords={
            _INT_KEYWORD: _IntFormat,
            _PATTERN_KEYWORD: _PythonPattern,
            _UNTRANSLATABLE_KEYWORD: _Untranslatable,
        },
        offline=True,
    )
