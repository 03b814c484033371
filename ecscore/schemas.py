"""3GPP OpenAPI schemas, compiled once and used to validate what crosses our APIs.

The schemas ship inside the package as a bundle (``ecscore/openapi/3gpp-bundle.json``): the
``components.schemas`` of 3GPP's YAML files that our APIs need, closed under ``$ref`` and
with every reference left exactly as 3GPP wrote it.  ``scripts/bundle_3gpp_schemas.py``
rebuilds it from ``../shared/3gpp-openapi``, and a test proves the two agree, so a new 3GPP
release is one regenerated file.

Two validators judge each schema.  jsonschema-rs, on the schemas translated once by
``ecscore.fastschemas``, decides whether a value is valid: that is every request's cost.  Only
when it refuses (or cannot take the value at all, such as a lone surrogate) does
``openapi_schema_validator``'s ``OAS30Validator`` judge it, and its errors become 3GPP
``InvalidParam`` objects whose ``param`` is a JSON pointer to the offending member (for a
missing member, that member's own pointer).  The compiled validator never has the last word
on a refusal, so a disagreement could only cost time there; the differential test holds the
two to the same verdict all the same.  ``ECS_COMPILED_SCHEMAS`` off leaves the pure-Python
validator alone (for debugging).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jsonschema_rs
from django.conf import settings
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from . import errors, fastschemas, yamlfiles

logger = logging.getLogger(__name__)

BUNDLE_PATH = Path(__file__).resolve().parent / "openapi" / "3gpp-bundle.json"
BASE_URI = "file:///3gpp-openapi/"

#: Schemas our APIs use beside those of their own files (the served APIs' files come from
#: ``ecsportal.apis``); everything they reference is pulled in by the bundler.
ROOT_SCHEMAS = (
    ("TS29122_CommonData.yaml", "ProblemDetails"),
    ("TS29122_CommonData.yaml", "LocationArea5G"),
    ("TS29571_CommonData.yaml", "PlmnId"),
    ("TS29571_CommonData.yaml", "PlmnIdNid"),
    ("TS29571_CommonData.yaml", "Snssai"),
    ("TS29558_Eees_EASRegistration.yaml", "EndPoint"),
    # Named only by a query parameter of GetEESProfiles (eec-srv-cont-supp).
    ("TS29558_Eees_EECContextRelocation.yaml", "EECSrvContinuitySupport"),
)


def _split_ref(ref: str, current_file: str) -> tuple[str, str]:
    file_part, _, pointer = ref.partition("#")
    return (file_part or current_file), pointer


def _walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_refs(item)


def build_bundle(source_dir: Path, root_files: Iterable[str]) -> dict[str, Any]:
    """Collect the schemas reachable from every schema of ``root_files`` and from
    ROOT_SCHEMAS in a folder of 3GPP YAML."""
    documents: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in documents:
            with open(source_dir / name, encoding="utf-8") as fh:
                documents[name] = yamlfiles.load(fh)
        return documents[name]

    bundle: dict[str, dict[str, dict[str, Any]]] = {}
    todo: list[tuple[str, str]] = list(ROOT_SCHEMAS)
    for name in root_files:
        todo.extend((name, s) for s in load(name)["components"].get("schemas", {}))
    while todo:
        file_name, schema_name = todo.pop()
        schemas = bundle.setdefault(file_name, {})
        if schema_name in schemas:
            continue
        schema = load(file_name)["components"]["schemas"][schema_name]
        schemas[schema_name] = schema
        for ref in _walk_refs(schema):
            target_file, pointer = _split_ref(ref, file_name)
            parts = pointer.strip("/").split("/")
            if parts[:2] != ["components", "schemas"] or len(parts) != 3:
                raise ValueError(f"unsupported $ref {ref!r} in {file_name}")
            todo.append((target_file, parts[2]))
    return {
        name: {"components": {"schemas": dict(sorted(schemas.items()))}}
        for name, schemas in sorted(bundle.items())
    }


@cache
def _bundle() -> dict[str, Any]:
    with open(BUNDLE_PATH, encoding="utf-8") as fh:
        return json.load(fh)


_project_documents: dict[str, Any] = {}


def add_document(name: str, path: Path) -> None:
    """Register one of the project's own OpenAPI files beside 3GPP's (it may $ref them)."""
    with open(path, encoding="utf-8") as fh:
        _project_documents[name] = yamlfiles.load(fh)
    _registry.cache_clear()
    _compiled_registry.cache_clear()
    validator.cache_clear()


@cache
def _registry() -> Registry:
    documents = {**_bundle(), **_project_documents}
    resources = [
        (BASE_URI + name, Resource.from_contents(doc, default_specification=DRAFT4))
        for name, doc in documents.items()
    ]
    return Registry().with_resources(resources)


def _inlined(file_name: str, schema_name: str) -> Any:
    """The schema with every ``$ref`` replaced by its target, except those closing a cycle.

    Resolving a reference through the registry on every validation costs more than the
    checks themselves (about 3/4 of an EDGE-4 request body's validation, half of each entry
    of a configuration file); inlined once, a validation pays only for the checks.  A
    reference back to a schema being inlined, or one with sibling keywords, stays a
    reference (absolute, for the registry), so recursive schemas stay finite and the verdict
    is the registry's own.
    """
    documents = {**_bundle(), **_project_documents}
    done: dict[str, Any] = {}

    def walk(node: Any, file_: str, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, file_, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target_file, pointer = _split_ref(ref, file_)
            absolute = f"{BASE_URI}{target_file}#{pointer}"
            parts = pointer.strip("/").split("/")
            inlinable = len(parts) == 3 and parts[:2] == ["components", "schemas"]
            if len(node) == 1 and inlinable and absolute not in seen:
                if absolute not in done:
                    target = documents[target_file]["components"]["schemas"][parts[2]]
                    done[absolute] = walk(target, target_file, (*seen, absolute))
                return done[absolute]
            node = {**node, "$ref": absolute}
        # The values of these keywords are data, not schemas.
        return {
            key: value if key in _DATA_KEYWORDS else walk(value, file_, seen)
            for key, value in node.items()
        }

    root = f"{file_name}#/components/schemas/{schema_name}"
    return walk({"$ref": root}, file_name, ())


_DATA_KEYWORDS = frozenset({"$ref", "enum", "default", "example"})


@cache
def _compiled_registry() -> jsonschema_rs.Registry:
    return fastschemas.registry({**_bundle(), **_project_documents}, BASE_URI)


class Validator:
    """One schema's two validators: the compiled one decides, OAS30Validator explains."""

    def __init__(self, reference: OAS30Validator, compiled: jsonschema_rs.Validator | None) -> None:
        self.reference = reference
        self.compiled = compiled

    def compiled_accepts(self, instance: Any) -> bool:
        """True when the compiled validator finds ``instance`` valid (final); False when it
        refuses it, cannot take it, is switched off or there is none (OAS30Validator decides).
        """
        if self.compiled is None or not settings.ECS_COMPILED_SCHEMAS:
            return False
        try:
            return self.compiled.is_valid(instance)
        except (ValueError, TypeError, OverflowError, RecursionError):
            # Lone surrogates (no UTF-8), non-string keys, a format function's own error:
            # OAS30Validator sees the value as it always did.
            return False

    def is_valid(self, instance: Any) -> bool:
        return self.compiled_accepts(instance) or self.reference.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return self.reference.iter_errors(instance)


class _Judge(Protocol):
    def is_valid(self, instance: Any) -> bool: ...

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]: ...


@cache
def validator(file_name: str, schema_name: str) -> Validator:
    """The validators of one 3GPP schema; built once per process."""
    reference = OAS30Validator(
        _inlined(file_name, schema_name),
        registry=_registry(),
        format_checker=fastschemas.FORMAT_CHECKER,
    )
    uri = f"{BASE_URI}{file_name}#/components/schemas/{schema_name}"
    try:
        compiled = fastschemas.compile_schema(_compiled_registry(), uri)
    except (fastschemas.UntranslatableSchema, jsonschema_rs.ValidationError, ValueError) as exc:
        # Correct, only slower: every value of this schema is judged by OAS30Validator.
        logger.warning("no compiled validator for %s: %s", uri, exc)
        compiled = None
    return Validator(reference, compiled)


def schema_of(file_name: str, schema_name: str) -> dict[str, Any]:
    return _bundle()[file_name]["components"]["schemas"][schema_name]


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _leaf_errors(error: ValidationError) -> Iterator[ValidationError]:
    """Descend into anyOf/oneOf failures to the errors that say what is actually wrong."""
    if error.context:
        # Prefer the branch that got furthest into the instance: it is the one the sender meant.
        deepest = max(len(e.absolute_path) for e in error.context)
        for sub in error.context:
            if len(sub.absolute_path) == deepest:
                yield from _leaf_errors(sub)
    else:
        yield error


def _reason(error: ValidationError) -> str:
    if error.validator == "required":
        return "is required"
    if error.validator == "pattern":
        return f"{error.instance!r} does not match the pattern {error.validator_value}"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    return error.message


def invalid_params(validator_: _Judge, instance: Any, prefix: str = "") -> list[dict[str, str]]:
    """Every problem with ``instance`` as a list of 3GPP InvalidParam, empty when valid."""
    if isinstance(validator_, Validator) and validator_.compiled_accepts(instance):
        return []
    found: dict[str, str] = {}
    for error in validator_.iter_errors(instance):
        for leaf in _leaf_errors(error):
            parts = list(leaf.absolute_path)
            if leaf.validator == "required":
                missing = [
                    name for name in leaf.validator_value if name not in (leaf.instance or {})
                ]
                for name in missing:
                    found.setdefault(prefix + _pointer([*parts, name]), "is required")
                continue
            found.setdefault(prefix + _pointer(parts), _reason(leaf))
    # RFC 6901: the empty pointer "" names the whole document.
    return [{"param": param, "reason": reason} for param, reason in sorted(found.items())]


def check(value: Any, file_name: str, schema_name: str) -> None:
    """Raise ``InvalidRequest`` naming every member of ``value`` that breaks the schema."""
    params = invalid_params(validator(file_name, schema_name), value)
    if params:
        missing = any(p["reason"] == "is required" for p in params)
        raise errors.InvalidRequest(
            f"The request body does not conform to {schema_name}.",
            "MANDATORY_IE_MISSING" if missing else "MANDATORY_IE_INCORRECT",
            params,
        )
