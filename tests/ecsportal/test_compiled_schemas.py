"""The compiled validator (jsonschema-rs) and OAS30Validator give every body the same verdict.

``ecscore.schemas`` lets jsonschema-rs decide whether a body is valid and asks OAS30Validator
only to explain a refusal, so a body valid for one and not the other is a bug: either a
refusal the client cannot see explained, or a body let through that 3GPP's schema refuses.
The property test below generates, for every schema our APIs and configuration file
validate, bodies of three kinds and requires both verdicts to agree on each:

- valid ones: hand-built from ``tests.builders`` and drawn from each schema itself (required
  members always, optional ones at random, strings from each ``pattern`` as Python reads it);
- those mutated at a random place: a member dropped or added, a wrong type, a string that
  breaks its pattern (a trailing newline, a non-ASCII digit), an unknown enum string, null,
  1.0 for an integer, numbers past int32;
- random JSON, and objects with the schema's own member names and random values.

It also asserts that a good share of the drawn bodies is valid and a good share invalid, so
that it cannot pass by testing only one side.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import datasets
from ecscore import fastschemas, jsontext, schemas
from tests.builders import (
    EDGE4_FILE,
    EDGE4_REQUEST,
    HOME,
    REGISTRATION_FILE,
    ac_prof,
    area,
    configure_ecs,
    ecgi,
    edge4_request,
    ees_info_json,
    ees_profile,
    ees_registration,
    ncgi,
    post_json,
    serv_prov_subscription,
    tai,
    ue_at,
    ue_in_circle,
)
from tests.openapi import EDGE10_FILE

COMMON_29122 = "TS29122_CommonData.yaml"
COMMON_29571 = "TS29571_CommonData.yaml"
RELOCATION_FILE = "TS29558_Eees_EECContextRelocation.yaml"
DATE_TIME = "2030-01-02T03:04:05Z"


def _seeds() -> dict[tuple[str, str], list[Any]]:
    """Valid bodies of each schema, as the API tests send them."""
    edge4 = [
        edge4_request(),
        edge4_request(
            eas_ids=["app.one", "app.two"],
            loc=ue_at(tai("0001"), ncgi("000000001")),
            plmns=[HOME],
            ecsp_ids=["ecsp-a"],
            acr=["EEC_INITIATED", "EEC_EXECUTED_VIA_SOURCE_EES"],
        ),
        edge4_request(loc=ue_in_circle(50.1, 8.6, 300.0), ueId="msisdn-4915112345678"),
        edge4_request(acProfs=[ac_prof("ac-2", ["app.one"], pref_ecsps=["ecsp-b"])]),
        datasets.local_request(1, 1),
        datasets.roaming_request(),
    ]
    subscription = serv_prov_subscription("http://93.184.216.34/cb", expTime=DATE_TIME)
    registration = ees_registration(
        ees_profile("ees-1.edge.example", dnn="edge.example", tais=[tai("0001"), tai("00A1")]),
        exp_time=DATE_TIME,
    )
    info = {
        **ees_info_json("ees-2.partner.example", ecsp="ecsp-a"),
        "svcArea": area(tais=[tai("000001")], ncgis=[ncgi("000000001")], ecgis=[ecgi("0000001")]),
    }
    partner = datasets.partner_request()
    return {
        (EDGE4_FILE, "ECSServProvReq"): edge4,
        (EDGE4_FILE, "ECSServProvSubscription"): [subscription],
        (EDGE4_FILE, "ECSServProvSubscriptionPatch"): [
            {"expTime": DATE_TIME},
            {"acProfs": [ac_prof("ac-1", ["app.one"])], "eecSvcContSupp": ["EEC_INITIATED"]},
        ],
        (REGISTRATION_FILE, "EESRegistration"): [registration, ees_registration(ees_profile("e"))],
        (REGISTRATION_FILE, "EESRegistrationPatch"): [
            {"expTime": DATE_TIME},
            {"expTime": None},
            {"eesProf": registration["eesProf"]},
        ],
        (EDGE4_FILE, "EESInfo"): [info],
        (EDGE4_FILE, "EDNConInfo"): [{"dnn": "edge.example"}],
        (EDGE4_FILE, "EDNConfigInfo"): [
            {"ednConInfo": {"dnn": "edge.example"}, "eess": [info], "lifeTime": DATE_TIME}
        ],
        (COMMON_29571, "PlmnId"): [HOME, {"mcc": "310", "mnc": "410"}],
        (COMMON_29122, "LocationArea5G"): [
            area(tais=[tai("0001")]),
            {"geographicAreas": [ue_in_circle(1.0, 2.0, 3.0)["geographicArea"]]},
        ],
        (RELOCATION_FILE, "EECSrvContinuitySupport"): [
            {"srvContSupp": True, "acrScenarios": ["EEC_INITIATED"]}
        ],
        (REGISTRATION_FILE, "EESProfile"): [registration["eesProf"]],
        (EDGE10_FILE, "ServProvReq"): [partner, {**partner, "ecspIds": ["ecsp-a"]}],
        (EDGE10_FILE, "ServProvSubsc"): [
            {**partner, "notificationDestination": "http://93.184.216.34/cb", "expTime": DATE_TIME}
        ],
        (EDGE10_FILE, "ServProvSubscPatch"): [{"expTime": DATE_TIME}],
        (EDGE10_FILE, "ServProvResp"): [
            {"ednCnfgInfo": [{"ednConInfo": {"dnn": "d"}, "eess": [info]}]}
        ],
        (EDGE10_FILE, "ServProvNotif"): [
            {"subId": "sub-1", "ednCnfgInfo": [{"ednConInfo": {"dnn": "d"}, "eess": [info]}]}
        ],
    }


SCHEMAS = sorted(_seeds())

# --- bodies drawn from a schema -------------------------------------------------------------

MAX_DEPTH = 7


def _documents() -> dict[str, Any]:
    return {**schemas._bundle(), **schemas._project_documents}


def _resolve(ref: str, file_name: str) -> tuple[dict[str, Any], str]:
    target_file, pointer = schemas._split_ref(ref, file_name)
    name = pointer.rsplit("/", 1)[-1]
    return _documents()[target_file]["components"]["schemas"][name], target_file


def _merged(parts: list[Any], file_name: str) -> tuple[dict[str, Any], str]:
    """allOf of object schemas as one (what our schemas use allOf for)."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    where = file_name
    for part in parts:
        while "$ref" in part:
            part, where = _resolve(part["$ref"], where)
        if "allOf" in part:
            part, where = _merged(part["allOf"], where)
        # Members keep the file they were written in by being resolved here, once.
        for name, schema in (part.get("properties") or {}).items():
            merged["properties"][name] = _absolute(schema, where)
        merged["required"] += part.get("required", [])
    return merged, file_name


def _absolute(schema: Any, file_name: str) -> Any:
    """``schema`` with relative references made to name their file, so it can move."""
    if isinstance(schema, list):
        return [_absolute(s, file_name) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref":
            target_file, pointer = schemas._split_ref(value, file_name)
            out[key] = f"{target_file}#{pointer}"
        elif key in ("enum", "default", "example"):
            out[key] = value
        else:
            out[key] = _absolute(value, file_name)
    return out


def _date_times() -> st.SearchStrategy[str]:
    """RFC 3339 date-times, whole seconds or with a fraction, in UTC or at an offset."""
    return st.tuples(
        st.datetimes(min_value=datetime.datetime(1, 1, 1)),
        st.sampled_from(["seconds", "microseconds"]),
        st.sampled_from(["Z", "+00:00", "-05:30"]),
    ).map(lambda t: t[0].isoformat(timespec=t[1]) + t[2])


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        drawn = st.from_regex(schema["pattern"])
        if low or high is not None:
            drawn = drawn.filter(lambda s: low <= len(s) <= (high or len(s)))
        return drawn
    if schema.get("format") == "date-time":
        return _date_times()
    if schema.get("format") == "byte":
        return st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())
    return st.text(min_size=low, max_size=high if high is not None else max(low, 8))


def valid(schema: Any, file_name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values meant to be valid for ``schema`` (the share that is, is asserted below)."""
    if not isinstance(schema, dict):
        return st.none()
    if "$ref" in schema:
        target, where = _resolve(schema["$ref"], file_name)
        return st.deferred(lambda: valid(target, where, depth + 1))
    if "allOf" in schema:
        merged, where = _merged(schema["allOf"], file_name)
        return valid(merged, where, depth)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            if "properties" not in rest:
                drawn = st.one_of([valid(s, file_name, depth) for s in schema[key]])
                if key == "oneOf":
                    # Open objects (VelocityEstimate's) can match several branches at once.
                    drawn = drawn.filter(_matches_one(schema[key], file_name))
                return drawn
            return st.one_of(
                [_with_branch(rest, s, key, schema[key], file_name, depth) for s in schema[key]]
            )
    drawn = _typed(schema, file_name, depth)
    if schema.get("nullable"):
        drawn = st.one_of(st.none(), drawn)
    return drawn


def _matches_one(branches: list[Any], file_name: str) -> Any:
    """Whether a value is valid for exactly one of ``branches`` (as oneOf requires)."""
    from openapi_schema_validator import OAS30Validator

    def located(schema: Any) -> Any:
        absolute = _absolute(schema, file_name)
        if isinstance(absolute, dict) and "$ref" in absolute:
            return {**absolute, "$ref": schemas.BASE_URI + absolute["$ref"]}
        return absolute

    judges = [
        OAS30Validator(
            located(b), registry=schemas._registry(), format_checker=fastschemas.FORMAT_CHECKER
        )
        for b in branches
    ]
    return lambda value: sum(judge.is_valid(value) for judge in judges) == 1


def _with_branch(
    rest: dict[str, Any], branch: Any, key: str, branches: list[Any], file_name: str, depth: int
) -> st.SearchStrategy[Any]:
    """An object schema whose anyOf/oneOf branches only require members (as EndPoint's): the
    branch's members required, and for oneOf those of the other branches left out."""
    if not (isinstance(branch, dict) and set(branch) == {"required"}):
        return valid(branch, file_name, depth)
    others = set()
    if key == "oneOf":
        others = {n for b in branches if b is not branch for n in b.get("required", [])}
    properties = {
        n: s for n, s in rest["properties"].items() if n not in others - set(branch["required"])
    }
    combined = {
        **rest,
        "properties": properties,
        "required": [*rest.get("required", []), *branch["required"]],
    }
    return valid(combined, file_name, depth)


def _typed(schema: dict[str, Any], file_name: str, depth: int) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        required = [n for n in schema.get("required", []) if n in properties]
        optional = (
            {}
            if depth > MAX_DEPTH
            else {
                n: valid(s, file_name, depth + 1)
                for n, s in properties.items()
                if n not in required
            }
        )
        drawn = st.fixed_dictionaries(
            {n: valid(properties[n], file_name, depth + 1) for n in required}, optional=optional
        )
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            low = schema.get("minProperties", 0)
            drawn = st.tuples(
                drawn,
                st.dictionaries(
                    st.text(max_size=5),
                    valid(extra, file_name, depth + 1),
                    min_size=low,
                    max_size=max(low, 2),
                ),
            ).map(lambda pair: {**pair[1], **pair[0]})
        elif schema.get("minProperties"):
            drawn = drawn.filter(lambda d: len(d) >= schema["minProperties"])
        return drawn
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 2), low + (0 if depth > MAX_DEPTH else 2))
        return st.lists(
            valid(schema.get("items", {}), file_name, depth + 1),
            min_size=low,
            max_size=max(low, high),
        )
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if schema.get("format") == "int32":
            low = -(2**31) if low is None else low
            high = 2**31 - 1 if high is None else high
        return st.integers(low, high)
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.one_of(
            st.floats(low, high, allow_nan=False, allow_infinity=False),
            st.integers(None if low is None else int(low), None if high is None else int(high)),
        )
    if kind == "boolean":
        return st.booleans()
    return JSON


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

# --- mutations ----------------------------------------------------------------------------

#: Values put in place of a member: wrong types, edges of integers and of 3GPP's strings.
REPLACEMENTS = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    2.5,
    2**31,
    2**31 - 1,
    -(2**31) - 1,
    2**63,
    2**70,
    1e300,
    "",
    "x",
    "UNKNOWN_ENUM_VALUE",
    "001",
    "001\n",
    "\n001",
    "\u0660\u0660\u0661",  # Arabic-Indic digits: \\d to Python, not to ECMA 262
    "0x1",
    "FFFE",
    "ffffffffe",
    "2030-01-02T03:04:05Z\n",
    "2030-02-30T00:00:00Z",
    "2030-01-02t03:04:05z",
    "AAAA",
    "A===",
    "é",
    [],
    [1],
    {},
    {"unknown": 1},
]


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*here, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*here, index))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


def _string_mutations(text: str) -> list[str]:
    digits = re.sub("[0-9]", lambda m: chr(0x660 + int(m.group())), text, count=1)
    return [text + "\n", text + "x", "x" + text, text[:-1], text.swapcase(), digits, text * 2]


@st.composite
def mutated(draw: st.DrawFn, bodies: st.SearchStrategy[Any]) -> Any:
    body = draw(bodies)
    path = draw(st.sampled_from(_paths(body)))
    node = body
    for step in path:
        node = node[step]
    choices: list[Any] = list(REPLACEMENTS)
    if isinstance(node, str):
        choices += _string_mutations(node)
    if isinstance(node, dict):
        extra = draw(st.sampled_from(["unknown", "eesId", "mcc", "x-extra"]))
        choices.append({**node, extra: draw(st.sampled_from(REPLACEMENTS))})
        for key in node:
            choices.append({k: v for k, v in node.items() if k != key})
    if isinstance(node, list):
        choices += [node * 2, node[1:]]
    return _replace(body, path, draw(st.sampled_from(choices)))


def _random_members(schema: dict[str, Any], file_name: str) -> st.SearchStrategy[Any]:
    """Objects whose member names are the schema's own, with random values."""
    while "$ref" in schema:
        schema, file_name = _resolve(schema["$ref"], file_name)
    if "allOf" in schema:
        schema, file_name = _merged(schema["allOf"], file_name)
    names = sorted(schema.get("properties") or {}) or ["x"]
    return st.dictionaries(st.sampled_from(names), JSON, max_size=len(names))


# --- the property --------------------------------------------------------------------------


def _verdicts(file_name: str, schema_name: str, body: Any) -> tuple[bool, bool]:
    v = schemas.validator(file_name, schema_name)
    assert v.compiled is not None, "every schema the APIs use compiles"
    return v.compiled.is_valid(body), v.reference.is_valid(body)


@pytest.mark.parametrize(("file_name", "schema_name"), SCHEMAS, ids=[s for _, s in SCHEMAS])
def test_both_validators_give_every_body_the_same_verdict(file_name: str, schema_name: str):
    schema = _documents()[file_name]["components"]["schemas"][schema_name]
    seeds = _seeds()[(file_name, schema_name)]
    for seed in seeds:
        assert _verdicts(file_name, schema_name, seed) == (True, True), seed
    drawn_valid = valid(schema, file_name)
    kinds = {
        "drawn": drawn_valid,
        "seed, mutated": mutated(st.sampled_from(seeds)),
        "drawn, mutated": mutated(drawn_valid),
        "random": JSON,
        "members, random values": _random_members(schema, file_name),
    }
    counts: Counter[tuple[str, bool]] = Counter()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        print_blob=True,  # a failure in CI comes with its @reproduce_failure line
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(st.sampled_from(sorted(kinds)).flatmap(lambda k: st.tuples(st.just(k), kinds[k])))
    def agree(drawn: tuple[str, Any]) -> None:
        kind, body = drawn
        if jsontext.problem(body) is not None:
            return  # refused before validation (and the compiled validator cannot take it)
        compiled, reference = _verdicts(file_name, schema_name, body)
        assert compiled == reference, (
            kind,
            body,
            schemas.invalid_params(schemas.validator(file_name, schema_name).reference, body),
        )
        counts[(kind, reference)] += 1

    agree()
    drawn = counts[("drawn", True)] + counts[("drawn", False)]
    assert counts[("drawn", True)] >= 0.6 * drawn, counts
    mutants = sum(counts[(k, False)] for k in ("seed, mutated", "drawn, mutated"))
    assert mutants >= 20, counts


# --- what the 3GPP files do not use (yet), translated all the same -------------------------

BASE = "file:///constructs/"
CONSTRUCTS: dict[str, Any] = {
    "components": {
        "schemas": {
            "Nullable": {"type": "string", "nullable": True, "enum": ["A", "B"]},
            "RefWithSiblings": {"$ref": "#/components/schemas/Short", "minLength": 2},
            "Short": {"type": "string", "maxLength": 3},
            "ReadOnlyRequired": {
                "type": "object",
                "properties": {"id": {"type": "string", "readOnly": True}, "x": {}},
                "required": ["id", "x"],
            },
            "Int32": {"type": "integer", "format": "int32"},
            "Int64": {"format": "int64"},
            "Byte": {"type": "string", "format": "byte"},
            "WordPattern": {"type": "string", "pattern": "^\\w+\\Z"},
            "ClassPattern": {"type": "string", "pattern": "^[]a-]+$"},
            "Exclusive": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "Recursive": {
                "type": "object",
                "properties": {"next": {"$ref": "#/components/schemas/Recursive"}},
            },
        }
    }
}
CONSTRUCT_VALUES = [
    None,
    "A",
    "C",
    "",
    "a",
    "ab",
    "abcd",
    "ab\n",
    "é",
    "a-]",
    "a b",
    "AAAA",
    "AA=",
    "A===",
    0,
    0.0,
    1,
    1.0,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63,
    3e10,
    True,
    {},
    {"x": 1},
    {"id": "i"},
    {"id": "i", "x": None},
    {"next": {"next": {}}},
    {"next": 1},
    {"next": {"next": {"next": "x"}}},
    [],
    ["A"],
]


@pytest.mark.parametrize("name", sorted(CONSTRUCTS["components"]["schemas"]))
def test_openapi_constructs_keep_their_meaning(name: str):
    """nullable, $ref siblings, readOnly members, int formats, exclusiveMinimum, and patterns
    outside the translated subset (checked by Python's re): the same verdict as today."""
    from openapi_schema_validator import OAS30Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    uri = f"{BASE}doc.yaml#/components/schemas/{name}"
    resource = Resource.from_contents(CONSTRUCTS, default_specification=DRAFT4)
    reference = OAS30Validator(
        {"$ref": uri},
        registry=Registry().with_resources([(f"{BASE}doc.yaml", resource)]),
        format_checker=fastschemas.FORMAT_CHECKER,
    )
    compiled = fastschemas.compile_schema(fastschemas.registry({"doc.yaml": CONSTRUCTS}, BASE), uri)
    verdicts = [(v, compiled.is_valid(v), reference.is_valid(v)) for v in CONSTRUCT_VALUES]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert any(v[2] for v in verdicts) and not all(v[2] for v in verdicts)


@pytest.mark.parametrize(
    ("pattern", "translated"),
    [
        ("^\\d{3}$", None),  # \d: checked below against Python, the class is long
        ("^[A-Fa-f0-9]{4}$", "^[A-Fa-f0-9]{4}\\n?$"),
        ("(^[0-9]{4}$)|(^[0-9]{6}$)", "(^[0-9]{4}\\n?$)|(^[0-9]{6}\\n?$)"),
        ("^a\\.b(?:c)$", "^a\\.b(?:c)\\n?$"),
        ("^[]a]$", "^[]a]\\n?$"),
        ("^\\w+$", None),
        ("^(?P<x>a)$", None),
        ("^a(?=b)", None),
        ("^[[a]]$", None),
        ("^[a--b]$", None),
        ("^a*+$", None),
        ("^(a)\\1$", None),
        ("^[a", None),
    ],
)
def test_patterns_outside_the_known_subset_are_left_to_python(pattern: str, translated):
    result = fastschemas.translate_pattern(pattern)
    if pattern == "^\\d{3}$":
        assert result is not None and re.fullmatch(f"[{result[2:-10]}]+", "0\u0660\u09e6")
        assert re.fullmatch(f"[{result[2:-10]}]+", "a") is None
    else:
        assert result == translated


def test_values_the_compiled_validator_cannot_take_get_the_reference_verdict():
    """A lone surrogate has no UTF-8 form: jsonschema-rs raises; OAS30Validator judges."""
    v = schemas.validator(COMMON_29571, "PlmnId")
    with pytest.raises(UnicodeEncodeError):
        v.compiled.is_valid({"mcc": "\ud800", "mnc": "01"})
    assert schemas.invalid_params(v, {"mcc": "\ud800", "mnc": "01"}) == [
        {"param": "/mcc", "reason": "'\\ud800' does not match the pattern ^\\d{3}$"}
    ]
    edge4 = schemas.validator(EDGE4_FILE, "ECSServProvReq")
    assert edge4.is_valid({"eecId": "\ud800"})
    assert schemas.invalid_params(edge4, {"eecId": "\ud800"}) == []


def test_the_setting_leaves_the_pure_python_validator_alone(settings):
    v = schemas.validator(EDGE4_FILE, "ECSServProvReq")
    body, bad = edge4_request(), {"eecId": 1}
    assert v.compiled_accepts(body)
    settings.ECS_COMPILED_SCHEMAS = False
    assert not v.compiled_accepts(body)
    assert v.is_valid(body) and schemas.invalid_params(v, body) == []
    assert schemas.invalid_params(v, bad) == [
        {"param": "/eecId", "reason": "must be of type string"}
    ]


@pytest.mark.django_db
def test_a_byte_member_that_is_not_ascii_is_a_400_not_a_500(client, settings):
    """Found by this module: oas30_format_checker's ``byte`` check raised UnicodeEncodeError
    on non-ASCII text, so an EDGE-4 request with such an N3GA ``gli`` was a 500."""
    settings.ECS_REQUIRE_AUTH = False
    configure_ecs()
    n3ga = {"n3gppTai": tai("0001"), "gli": "\u00e9t\u00e9"}
    body = edge4_request(loc={"userLocation": {"n3gaLocation": n3ga}})
    response = post_json(client, EDGE4_REQUEST, body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["invalidParams"] == [
        {"param": "/locInf/userLocation/n3gaLocation/gli", "reason": "'été' is not a 'byte'"}
    ]
    good = edge4_request(loc={"userLocation": {"n3gaLocation": {**n3ga, "gli": "AAEC"}}})
    assert post_json(client, EDGE4_REQUEST, good).status_code == 204  # valid; no EDN


def test_a_schema_without_exact_translation_is_left_to_oas30validator():
    """A discriminator beside anyOf is resolved by OAS30Validator: no compiled validator is
    built for a schema reaching it (ecscore.schemas then judges with OAS30Validator alone),
    while the document's other schemas still compile."""
    doc = {
        "components": {
            "schemas": {
                "Shape": {"anyOf": [{"type": "object"}], "discriminator": {"propertyName": "s"}},
                "Holder": {"properties": {"shape": {"$ref": "#/components/schemas/Shape"}}},
                "Plain": {"type": "string"},
            }
        }
    }
    registry = fastschemas.registry({"doc.yaml": doc}, BASE)
    assert fastschemas.compile_schema(registry, f"{BASE}doc.yaml#/components/schemas/Plain")
    for name in ("Shape", "Holder"):
        with pytest.raises(ValueError, match="discriminator"):
            fastschemas.compile_schema(registry, f"{BASE}doc.yaml#/components/schemas/{name}")


def test_no_schema_we_validate_refers_to_itself():
    """jsonschema-rs recurses on the native stack: with no cycle among the schemas it descends
    only as deep as they go, whatever the value (docs/design-decisions.md)."""

    def references(node: Any, file_name: str):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    target_file, pointer = schemas._split_ref(value, file_name)
                    yield target_file, pointer.rsplit("/", 1)[-1]
                elif key not in ("enum", "default", "example"):
                    yield from references(value, file_name)
        elif isinstance(node, list):
            for item in node:
                yield from references(item, file_name)

    graph = {
        (file_name, name): set(references(schema, file_name))
        for file_name, doc in _documents().items()
        for name, schema in doc["components"]["schemas"].items()
    }
    assert len(graph) > 100

    def reaches_itself(start: tuple[str, str]) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node == start:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    assert [node for node in graph if reaches_itself(node)] == []
