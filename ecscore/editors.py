"""3GPP schemas as forms: what the admin's JSON editor (django-jsonform) draws, and back.

The admin edits every 3GPP structure (an endpoint, a service area, a list of PLMNs) in a
form drawn from the same bundled schema that validates the APIs (``ecscore.schemas``), so
an engineer picks and fills fields instead of typing JSON. ``editor_schema`` translates one
3GPP schema, once, into what django-jsonform understands: ``$ref`` inlined, ``allOf`` merged,
``nullable`` and ``readOnly`` members dropped, a ``oneOf`` of required members (EndPoint:
exactly one of uri, fqdn, ...) a choice between one form per member, a ``GeographicArea`` a
choice of shapes whose points are latitude and longitude fields.

3GPP leaves its enumerations open (``anyOf: [{enum: [...]}, {type: string}]``: a later
release may add values, and the APIs accept them). The editor offers the known values in a
list plus an explicit "other value", which it sends as ``{"__other__": "..."}``.
``EditorField`` turns the editor's answer back into the 3GPP value: an "other" becomes the
plain string, kept as typed; a plain string that is not a known value is refused, naming the
value the engineer most likely meant. A stored value 3GPP does not list (written by the API
or the file) is shown as an "other value", so it is kept when the form is saved -- unless it
looks like the typo of a listed one (``TYPO_LIKENESS``: ``EEC_INITATED``), which is shown as
it is and refused on save until the engineer picks the value meant or makes it an "other
value" (for that save; the form asks again the next time). That check is the form's alone:
the APIs and the configuration file accept any string, as 3GPP says; everything else is
validated by the model's own checks, as the APIs validate it.

The editor's empty fields ("", null, [] and {} it fills in for every member it draws) are
dropped where 3GPP makes the member optional, so an untouched member is absent; an empty
required member or list entry is kept, for the model to name.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from functools import cache
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django_jsonform.widgets import JSONFormWidget

from . import schemas

#: The key of the editor's "other value" branch of an open enumeration.
OTHER = "__other__"
OTHER_TITLE = "other value (3GPP leaves the list open)"
#: Marks, in an editor schema, an open enumeration and its known values (the editor ignores it).
KNOWN = "x-known"
#: The members 3GPP requires of an object: kept when empty, so that the model says so. (Not
#: django-jsonform's "required", which would stop the browser from sending the form.)
REQUIRED = "x-required"

#: Placeholders where 3GPP's format is easy to get wrong (its examples, where it has one).
PLACEHOLDERS = {
    "mcc": "001",
    "mnc": "01",
    "tac": "00A1",
    "nrCellId": "00000A1B2",
    "eutraCellId": "000A1B2",
    "sd": "0000A1",
    "uri": "https://ees.example.org/eees",
    "fqdn": "ees.example.org",
    "lat": "52.52",
    "lon": "13.40",
}


#: Labels for the members and types an engineer meets most (the rest: the name in words).
TITLES = {
    "uri": "URI",
    "fqdn": "FQDN",
    "ipv4Addrs": "IPv4 addresses",
    "ipv6Addrs": "IPv6 addresses",
    "Ipv4Addr": "IPv4 address",
    "Ipv6Addr": "IPv6 address",
    "plmnId": "PLMN",
    "PlmnId": "PLMN",
    "mcc": "MCC",
    "mnc": "MNC",
    "tac": "TAC",
    "nid": "NID",
    "tais": "TAIs",
    "Tai": "TAI",
    "ncgis": "NR cells (NCGI)",
    "Ncgi": "NR cell",
    "ecgis": "E-UTRA cells (ECGI)",
    "Ecgi": "E-UTRA cell",
    "nrCellId": "NR cell id",
    "eutraCellId": "E-UTRA cell id",
    "gRanNodeIds": "NG-RAN nodes",
    "nwAreaInfo": "Network area (TAIs, cells, RAN nodes)",
    "geographicAreas": "Geographic areas",
    "GeographicArea": "Geographic area",
    "civicAddresses": "Civic addresses",
    "point": "Point",
    "pointList": "Points",
    "GeographicalCoordinates": "Point",
    "lat": "Latitude",
    "lon": "Longitude",
    "sst": "SST",
    "sd": "SD",
    "easId": "EAS id",
    "easIds": "EAS ids",
    "easIdsList": "EAS ids",
    "mainEasId": "Main EAS id",
    "bdlId": "Bundle id",
    "bdlType": "Bundle type",
    "Dnai": "DNAI",
    "ACRScenario": "ACR scenario",
    "EesAuthMethod": "Authentication method",
}


def _words(name: str) -> str:
    """``nwAreaInfo`` -> ``Nw area info``: a member's name as a label."""
    if name in TITLES:
        return TITLES[name]
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


def _upper_snake(name: str) -> str:
    """``PointUncertaintyCircle`` -> ``POINT_UNCERTAINTY_CIRCLE`` (3GPP's GAD shape names)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text.split(". ")[0].rstrip(".") if text else ""


class _Translator:
    """One translation: follows ``$ref`` across the bundle's files, never around a cycle."""

    def __init__(self) -> None:
        self.documents = schemas._bundle()

    def resolve(self, node: dict[str, Any], file_: str) -> tuple[dict[str, Any], str, str]:
        target_file, _, pointer = node["$ref"].partition("#")
        target_file = target_file or file_
        name = pointer.rsplit("/", 1)[-1]
        return self.documents[target_file]["components"]["schemas"][name], target_file, name

    def merged(self, node: dict[str, Any], file_: str, seen: tuple[str, ...]) -> dict[str, Any]:
        """``allOf`` as one object: the properties and required members of every part."""
        result: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [*node.get("allOf", []), {k: v for k, v in node.items() if k != "allOf"}]:
            part_file = file_
            while "$ref" in part:
                part, part_file, _ = self.resolve(part, part_file)
            if "allOf" in part:
                part = self.merged(part, part_file, seen)
                result["properties"].update(part["properties"])
                result["required"] += part["required"]
                continue
            for name, member in part.get("properties", {}).items():
                translated = self.node(member, part_file, seen, name)
                if translated is not None:
                    result["properties"][name] = translated
            result["required"] += part.get("required", [])
        return result

    def node(
        self, node: dict[str, Any], file_: str, seen: tuple[str, ...], name: str = ""
    ) -> dict[str, Any] | None:
        description = node.get("description", "")
        if "$ref" in node:
            if node["$ref"] in seen:
                return None  # a recursive member: left to the API, not drawn
            target, target_file, target_name = self.resolve(node, file_)
            translated = self.node(target, target_file, (*seen, node["$ref"]), name)
            if translated is not None:
                translated["title"] = _words(name or target_name)
            return translated
        if node.get("readOnly"):
            return None
        result: dict[str, Any]
        branches = node.get("anyOf") or node.get("oneOf")
        if branches and self.is_open_enum(branches):
            known = next(b["enum"] for b in branches if "enum" in b)
            result = open_enum(known)
        elif branches and all(set(b) == {"required"} for b in branches):
            result = self.one_member_each(node, branches, file_, seen)
        elif branches and "properties" not in node and "type" not in node:
            result = {"oneOf": []}
            for branch in branches:
                title = _words(branch["$ref"].rsplit("/", 1)[-1]) if "$ref" in branch else ""
                translated = self.node(branch, file_, seen)
                if translated is not None:
                    if title:
                        translated["title"] = title
                    shape = translated.get("keys", {}).get("shape")
                    if shape is not None and "$ref" in branch:
                        # A GAD shape's branch says which shape it is (GeographicArea).
                        translated["keys"]["shape"] = {
                            "type": "string",
                            "title": "Shape",
                            "const": _upper_snake(branch["$ref"].rsplit("/", 1)[-1]),
                        }
                    result["oneOf"].append(translated)
        elif "allOf" in node:
            result = self.merged(node, file_, seen)
        elif "enum" in node:
            result = {"type": "string", "choices": list(node["enum"])}
        elif node.get("type") == "array" or "items" in node:
            # An entry is titled by its type (TAI), the list by its member (TAIs).
            items = self.node(node.get("items", {"type": "string"}), file_, seen)
            result = {"type": "array", "items": items or {"type": "string"}}
            if "maxItems" in node:
                result["maxItems"] = node["maxItems"]
        elif node.get("type") == "object" or "properties" in node:
            required = node.get("required", [])
            result = {"type": "object", "keys": {}, REQUIRED: list(required)}
            members = sorted(node.get("properties", {}).items(), key=lambda m: m[0] not in required)
            for member, schema in members:  # what 3GPP requires first (a TAI's PLMN, TAC)
                translated = self.node(schema, file_, seen, member)
                if translated is not None:
                    result["keys"][member] = translated
            if not result["keys"]:
                return None  # a free-form map: nothing to draw
        elif node.get("type") in ("string", "integer", "number", "boolean"):
            result = {"type": node["type"]}
            for keyword in ("minimum", "maximum"):
                if keyword in node:
                    result[keyword] = node[keyword]
        else:
            return None
        if "properties" in result:  # from merged(): django-jsonform's own word is "keys"
            required = result.pop("required", [])
            result[REQUIRED] = required
            result["keys"] = dict(
                sorted(result.pop("properties").items(), key=lambda m: m[0] not in required)
            )
        if name:
            result.setdefault("title", _words(name))
        if description and "help_text" not in result:
            result["help_text"] = _first_sentence(description)
        if name in PLACEHOLDERS and result.get("type") in ("string", "number"):
            result["placeholder"] = PLACEHOLDERS[name]
        return result

    @staticmethod
    def is_open_enum(branches: list[dict[str, Any]]) -> bool:
        return (
            len(branches) == 2
            and any("enum" in b for b in branches)
            and any(b.get("type") == "string" and "enum" not in b for b in branches)
        )

    def one_member_each(
        self, node: dict[str, Any], branches: list[dict[str, Any]], file_: str, seen: tuple
    ) -> dict[str, Any]:
        """``oneOf: [{required: [a]}, {required: [b]}]``: a choice of forms, one per member,
        each with the members no branch names (GlobalRanNodeId's plmnId)."""
        whole = self.merged(node, file_, seen)
        chosen = {member for branch in branches for member in branch["required"]}
        common = {k: v for k, v in whole["properties"].items() if k not in chosen}
        if "oneOf" not in node:
            # anyOf of required members (EASBundleInfo: bdlId or easIdsList): one form.
            return {"type": "object", "keys": whole["properties"]}
        options = []
        for branch in branches:
            members = {m: whole["properties"][m] for m in branch["required"]}
            title = " + ".join(str(v.get("title", k)) for k, v in members.items())
            options.append({"title": title, "type": "object", "keys": {**members, **common}})
        return {"oneOf": options}


def open_enum(known: list[str]) -> dict[str, Any]:
    """An enumeration 3GPP leaves open: its known values, or an explicit other value."""
    return {
        KNOWN: list(known),
        "oneOf": [
            {"title": "3GPP value", "type": "string", "choices": list(known)},
            {
                "title": OTHER_TITLE,
                "type": "object",
                "keys": {OTHER: {"type": "string", "title": "Value"}},
            },
        ],
    }


@cache
def _editor_schema(file_name: str, schema_name: str) -> str:
    ref = f"{file_name}#/components/schemas/{schema_name}"
    translated = _Translator().node({"$ref": ref}, file_name, ())
    if translated is None:
        raise ValueError(f"{schema_name} has nothing an editor can draw")
    return json.dumps(translated)


def editor_schema(file_name: str, schema_name: str, **overrides: Any) -> dict[str, Any]:
    """The editor's form for one 3GPP schema (a fresh copy: callers may adjust it)."""
    result = json.loads(_editor_schema(file_name, schema_name))
    result.update(overrides)
    return result


def member_schema(file_name: str, schema_name: str, member: str, **overrides: Any) -> dict:
    """The editor's form for one member of a 3GPP object (EESInfo's ``eesSvcContSupp``)."""
    whole = editor_schema(file_name, schema_name)
    result = copy.deepcopy(whole["keys"][member])
    result.update(overrides)
    return result


def list_of(item: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"type": "array", "items": item, **overrides}


def strings(title: str, placeholder: str = "", **overrides: Any) -> dict[str, Any]:
    """A list of plain strings (EAS ids, DNNs, ECSPs): one field per entry."""
    item: dict[str, Any] = {"type": "string", "title": title}
    if placeholder:
        item["placeholder"] = placeholder
    return {"type": "array", "items": item, **overrides}


# --- The editor's answer as a 3GPP value --------------------------------------------------


def _where(path: list[Any]) -> str:
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _branch(schema: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """The ``oneOf`` branch ``value`` was written in: the one whose members it uses."""
    options = schema.get("oneOf", [])
    if isinstance(value, dict) and "shape" in value:
        for option in options:
            if option.get("keys", {}).get("shape", {}).get("const") == value["shape"]:
                return option
    if isinstance(value, dict):
        objects = [o for o in options if "keys" in o]
        return max(objects, key=lambda o: len(set(value) & set(o["keys"])), default=None)
    return next((o for o in options if o.get("type") != "object"), None)


def from_editor(value: Any, schema: dict[str, Any] | None, path: list[Any], problems: list) -> Any:
    """The 3GPP value the editor's ``value`` stands for; unknown enum values go to ``problems``.

    Walks the value with the schema it was drawn from: empty members are dropped, an "other
    value" becomes its string, and a plain string of an open enumeration must be a known one.
    """
    schema = schema or {}
    if KNOWN in schema:
        if isinstance(value, dict) and OTHER in value:
            return value[OTHER].strip() if isinstance(value[OTHER], str) else value[OTHER]
        if isinstance(value, str) and value and value not in schema[KNOWN]:
            problems.append((path, value, schema[KNOWN]))
        return value
    if "oneOf" in schema:
        schema = _branch(schema, value)
    if isinstance(value, dict):
        keys = (schema or {}).get("keys", {})
        required = (schema or {}).get(REQUIRED, [])
        cleaned = {}
        for key, member in value.items():
            member = from_editor(member, keys.get(key), [*path, key], problems)
            # The editor sends every member it draws; an untouched optional one is absent.
            # A member it does not draw was not written by it: kept, for the model to judge.
            if not (key in keys and key not in required and _empty(member)):
                cleaned[key] = member
        # Nothing filled in at all (a required SST left empty in an untouched S-NSSAI): the
        # object was not written; its parent, or the field, decides what nothing means.
        untouched = all(key in keys and _empty(member) for key, member in cleaned.items())
        return {} if untouched else cleaned
    if isinstance(value, list):
        # Entries are the engineer's own (the editor adds none unasked): kept as they are.
        item = (schema or {}).get("items")
        return [from_editor(v, item, [*path, i], problems) for i, v in enumerate(value)]
    return value


#: How like a known value an unknown one must be to be taken for its typo (difflib's ratio:
#: "EEC_INITATED" is 0.96 like "EEC_INITIATED", "TLS_WITH_AKAM" 0.92 like "TLS_WITH_AKMA").
TYPO_LIKENESS = 0.85


def looks_like_typo(value: str, known: list[str]) -> bool:
    return bool(difflib.get_close_matches(value, known, n=1, cutoff=TYPO_LIKENESS))


def to_editor(value: Any, schema: dict[str, Any] | None) -> Any:
    """``value`` as the editor shows it: a stored value 3GPP does not list is an "other
    value" (the API took it, 3GPP allows it) -- unless it looks like the typo of a listed
    one, which stays a plain value, so that saving the form asks which was meant."""
    schema = schema or {}
    if KNOWN in schema:
        known = schema[KNOWN]
        if isinstance(value, str) and value not in known and not looks_like_typo(value, known):
            return {OTHER: value}
        return value
    if "oneOf" in schema:
        schema = _branch(schema, value) or {}
    if isinstance(value, dict):
        keys = schema.get("keys", {})
        shown = {key: to_editor(member, keys.get(key)) for key, member in value.items()}
        # The editor recognises a choice's branch (an NCGI, not a TAI) only by the whole set
        # of its members: the absent ones are given as the editor's own empty values.
        for key, member_schema in keys.items():
            shown.setdefault(key, _blank(member_schema))
        return shown
    if isinstance(value, list):
        return [to_editor(item, schema.get("items")) for item in value]
    return value


def _blank(schema: dict[str, Any]) -> Any:
    """What the editor itself puts in a member it draws and nobody filled in."""
    if "oneOf" in schema or KNOWN in schema:
        return None
    if schema.get("type") == "array":
        return []
    if "keys" in schema:
        return {key: _blank(member) for key, member in schema["keys"].items()}
    return "" if schema.get("type") == "string" else None


def unknown_value_message(label: str, path: list[Any], value: str, known: list[str]) -> str:
    where = f"{label}{_where(path)}" if path else label
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    guess = f' Did you mean "{close[0]}"?' if close else ""
    return (
        f'{where}: "{value}" is not a value 3GPP defines ({", ".join(known)}).{guess} '
        f'Pick a value from the list, or choose "{OTHER_TITLE}" to keep a value that a '
        "later 3GPP release added."
    )


def _decode_error(value: Any) -> ValidationError | None:
    """Text that is not JSON (sent without the editor): where the parser stopped."""
    try:
        json.loads(value)
    except (TypeError, json.JSONDecodeError) as error:
        if isinstance(error, json.JSONDecodeError):
            return ValidationError(
                "Not valid JSON: %(reason)s at line %(line)d, column %(column)d.",
                code="invalid",
                params={"reason": error.msg, "line": error.lineno, "column": error.colno},
            )
    return None


class EditorField(forms.JSONField):
    """A JSON member edited in the form drawn from its 3GPP schema (``editor_schema``).

    The answer becomes the 3GPP value (``from_editor``); nothing left (``null``, ``[]``,
    ``{}``) is the model field's empty value (``blank_value``). The model's validators and
    ``clean`` judge the result, as they judge what the APIs and the file write.
    """

    def __init__(self, *, schema: dict[str, Any], blank_value: Any = None, **kwargs: Any) -> None:
        self.schema = schema
        self.blank_value = blank_value
        kwargs["widget"] = JSONFormWidget(schema=schema)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if self.disabled:
            return value
        if isinstance(value, str) and not value.strip():
            return copy.deepcopy(self.blank_value)
        try:
            converted = super().to_python(value)
        except ValidationError as error:
            raise _decode_error(value) or error from error
        problems: list = []
        converted = from_editor(converted, self.schema, [], problems)
        if problems:
            raise ValidationError(
                [unknown_value_message(str(self.label), *p) for p in problems], code="unknown"
            )
        if _empty(converted):
            return copy.deepcopy(self.blank_value)
        return converted

    def prepare_value(self, value: Any) -> str:
        # The editor's data: the value (a string that failed to parse stays as it was).
        if isinstance(value, forms.fields.InvalidJSONInput):
            return json.dumps(None)
        if value is None:
            value = copy.deepcopy(self.blank_value)
        return json.dumps(to_editor(value, self.schema), ensure_ascii=False, cls=self.encoder)
