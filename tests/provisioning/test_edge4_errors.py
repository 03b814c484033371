"""EDGE-4 errors: whatever an EEC sends, a malformed request gets a 4xx ProblemDetails.

Every error answer is checked against what 3GPP declares for the operation (400, 411, 413,
415 ... come from TS29122_CommonData as application/problem+json).
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.builders import (
    EDGE4_FILE,
    EDGE4_REQUEST,
    ac_prof,
    configure_ecs,
    edge4_request,
    ees_ids,
    make_edn,
    make_ees,
    ncgi,
    plmn,
    tai,
    ue_at,
)
from tests.openapi import assert_conforms, assert_valid

pytestmark = pytest.mark.django_db

PROBLEM_JSON = "application/problem+json"
NR = "/locInf/userLocation/nrLocation"


def _post_raw(client, body: bytes | str, content_type: str = "application/json"):
    # For an empty body Django's test client sends neither Content-Length nor Content-Type;
    # a real client sends both.
    empty = {"CONTENT_LENGTH": "0", "CONTENT_TYPE": content_type} if not body else {}
    response = client.generic("POST", EDGE4_REQUEST, body, content_type=content_type, **empty)
    assert_conforms(response, EDGE4_FILE, "/request", "post")
    return response


def _problem(response, status: int) -> dict:
    """The response is a ProblemDetails for ``status``; return its body."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].split(";")[0].strip() == PROBLEM_JSON
    problem = json.loads(response.content)
    assert problem["status"] == status
    assert isinstance(problem.get("cause"), str) and problem["cause"]
    return problem


def _bad_params(response) -> set[str]:
    problem = _problem(response, 400)
    assert problem["invalidParams"], problem
    for item in problem["invalidParams"]:
        assert item["reason"], item
    return {item["param"] for item in problem["invalidParams"]}


def _nr_location(tac: str = "0001", cell: str = "000000001", mcc: str = "001") -> dict:
    return ue_at(tai(tac, plmn(mcc, "01")), ncgi(cell))


# --- Schema violations: 400 naming every bad member --------------------------------------------


@pytest.mark.parametrize(
    "body, params",
    [
        pytest.param({"eecId": 5}, {"/eecId"}, id="eecId-number"),
        pytest.param({"eecId": ["eec"]}, {"/eecId"}, id="eecId-array"),
        pytest.param({"eecId": "e", "acProfs": {"acId": "a"}}, {"/acProfs"}, id="acProfs-object"),
        pytest.param({"eecId": "e", "acProfs": [{"acId": 1}]}, {"/acProfs/0/acId"}, id="acId"),
        pytest.param(
            {"eecId": "e", "acProfs": [{"acId": "a", "eass": [{"easId": 7}]}]},
            {"/acProfs/0/eass/0/easId"},
            id="easId-number",
        ),
        pytest.param({"eecId": "e", "ecspIds": ["x", 7]}, {"/ecspIds/1"}, id="ecspIds-item"),
        pytest.param({"eecId": "e", "ecspIds": []}, {"/ecspIds"}, id="ecspIds-empty"),
        pytest.param({"eecId": "e", "locInf": "here"}, {"/locInf"}, id="locInf-string"),
        pytest.param({"eecId": "e", "connInfo": {"ssId": "x"}}, {"/connInfo"}, id="connInfo"),
        pytest.param({"eecId": "e", "eecSvcContSupp": [3]}, {"/eecSvcContSupp/0"}, id="acr-number"),
        pytest.param(
            {"eecId": "e", "locInf": {"geographicArea": {"shape": "POINT", "point": {"lat": 1}}}},
            {"/locInf/geographicArea/point/lon"},
            id="point-without-lon",
        ),
    ],
)
def test_wrong_types_name_the_bad_member(edge4, body, params):
    response = edge4(body)
    assert _bad_params(response) == params
    assert response.json()["cause"] in ("MANDATORY_IE_INCORRECT", "MANDATORY_IE_MISSING")


@pytest.mark.parametrize("mcc", ["1", "01", "0011", "ABC", ""])
def test_bad_mcc_is_named(edge4, mcc):
    body = edge4_request(connInfo=[{"plmnId": {"mcc": mcc, "mnc": "01"}}])
    assert _bad_params(edge4(body)) == {"/connInfo/0/plmnId/mcc"}
    body = edge4_request(loc=_nr_location(mcc=mcc))
    assert _bad_params(edge4(body)) == {f"{NR}/tai/plmnId/mcc"}


@pytest.mark.parametrize("tac", ["XYZ1", "123", "12345", "1234567", ""])
def test_bad_tac_is_named(edge4, tac):
    response = edge4(edge4_request(loc=_nr_location(tac=tac)))
    assert _bad_params(response) == {f"{NR}/tai/tac"}
    assert response.json()["cause"] == "MANDATORY_IE_INCORRECT"


@pytest.mark.parametrize("cell", ["12345", "0000000001", "GGGGGGGGG", ""])
def test_bad_nr_cell_id_is_named(edge4, cell):
    response = edge4(edge4_request(loc=_nr_location(cell=cell)))
    assert _bad_params(response) == {f"{NR}/ncgi/nrCellId"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"acProfs": [ac_prof("ac-1", ["app.one"])]}, id="otherwise-valid"),
    ],
)
def test_missing_eec_id_is_named_exactly(edge4, body):
    response = edge4(body)
    problem = _problem(response, 400)
    assert problem["cause"] == "MANDATORY_IE_MISSING"
    assert [p["param"] for p in problem["invalidParams"]] == ["/eecId"]


def test_several_errors_are_all_named(edge4):
    body = {
        "ecspIds": ["ecsp-x", 1],
        "connInfo": [{"plmnId": {"mcc": "1", "mnc": "01"}}, {"plmnId": {"mcc": "001"}}],
        "locInf": _nr_location(tac="XYZ", cell="12345"),
        "acProfs": [{"eass": [{"easId": "app.one"}]}],
    }
    assert _bad_params(edge4(body)) == {
        "/eecId",
        "/ecspIds/1",
        "/connInfo/0/plmnId/mcc",
        "/connInfo/1/plmnId/mnc",
        f"{NR}/tai/tac",
        f"{NR}/ncgi/nrCellId",
        "/acProfs/0/acId",
    }


# --- Not a JSON object -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"eecId": "e",}', id="trailing-comma"),
        pytest.param(b'{"eecId": NaN}', id="NaN"),
        pytest.param(b'{"eecId": "\xff"}', id="not-utf8"),
        pytest.param(b'{"eecId": "e"', id="truncated"),
    ],
)
def test_body_that_is_not_json_gets_400(client, raw):
    problem = _problem(_post_raw(client, raw), 400)
    assert problem["cause"] == "INVALID_MSG_FORMAT"


@pytest.mark.parametrize("raw", ["[]", '[{"eecId": "e"}]', '"eec"', "42", "null", "true"])
def test_json_that_is_not_an_object_gets_400(client, raw):
    problem = _problem(_post_raw(client, raw), 400)
    [param] = problem["invalidParams"]
    # The whole document is wrong: its pointer is the root ("" in RFC 6901; "/" accepted).
    assert param["param"] in ("", "/")
    assert "object" in param["reason"]


# --- Transport: media type, size, length, method -----------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", PROBLEM_JSON],
)
def test_wrong_content_type_gets_415(client, content_type):
    configure_ecs()
    make_ees(make_edn("edn-1"), "ees-1")
    response = _post_raw(client, json.dumps(edge4_request()), content_type)
    _problem(response, 415)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_with_parameters_or_other_case_is_accepted(client, content_type):
    configure_ecs()
    make_ees(make_edn("edn-1"), "ees-1")
    response = _post_raw(client, json.dumps(edge4_request()), content_type)
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-1"]


def _body_of_size(size: int) -> bytes:
    head, tail = b'{"eecId": "', b'"}'
    raw = head + b"e" * (size - len(head) - len(tail)) + tail
    assert len(raw) == size
    return raw


def test_body_over_the_limit_gets_413(client):
    assert settings.ECS_MAX_BODY_BYTES == 1024 * 1024
    response = _post_raw(client, _body_of_size(settings.ECS_MAX_BODY_BYTES + 1))
    _problem(response, 413)


def test_body_of_exactly_the_limit_is_accepted(client):
    configure_ecs()
    make_ees(make_edn("edn-1"), "ees-1")
    response = _post_raw(client, _body_of_size(settings.ECS_MAX_BODY_BYTES))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-1"]


class _RawResponse:
    """An http.client response in the shape tests.openapi.assert_conforms reads."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status_code = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.content = response.read()

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]


def _raw_post(live_server, headers: dict[str, str], body: bytes = b"") -> _RawResponse:
    """POST with exactly these headers (http.client adds only Host and Accept-Encoding)."""
    url = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", EDGE4_REQUEST)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        response = _RawResponse(conn.getresponse())
    finally:
        conn.close()
    assert_conforms(response, EDGE4_FILE, "/request", "post")
    return response


def test_post_without_content_length_gets_411(live_server):
    response = _raw_post(live_server, {"Content-Type": "application/json"})
    problem = _problem(response, 411)
    assert problem["cause"] == "LENGTH_REQUIRED"


def test_chunked_post_without_content_length_gets_411(live_server):
    # The WSGI server hands Django no body without a Content-Length, so a chunked request
    # would otherwise be read as empty and refused as "not JSON".
    payload = json.dumps(edge4_request()).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    response = _raw_post(
        live_server,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        chunked,
    )
    _problem(response, 411)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405_problem_details(client, method):
    response = client.generic(method, EDGE4_REQUEST, b"{}", content_type="application/json")
    problem = _problem(response, 405)
    # The operation defines only POST; a 405 is covered by its "default" ProblemDetails.
    assert_valid(problem, "TS29122_CommonData.yaml", "ProblemDetails")
    assert "POST" in response["Allow"]


# --- Forward compatibility: unknown members and open enums are accepted ------------------------


def test_unknown_members_are_accepted(edge4):
    configure_ecs()
    make_ees(make_edn("edn-1"), "ees-1", eas_ids=["app.one"])
    body = edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0001")), futureMember={"x": 1})
    body["acProfs"][0]["futureAcMember"] = [1, 2]
    body["locInf"]["futureLocMember"] = "somewhere"
    response = edge4(body)
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-1"]


def test_unknown_acr_scenarios_are_accepted_and_matched(edge4):
    configure_ecs()
    edn = make_edn("edn-1")
    make_ees(edn, "ees-a")
    make_ees(edn, "ees-b", acr=["FUTURE_ACR_SCENARIO"])
    body = edge4_request(
        acr=["FUTURE_ACR_SCENARIO"],
        acProfs=[ac_prof("ac-1", ["app.one"], acr=["ANOTHER_FUTURE_SCENARIO"])],
    )
    response = edge4(body)
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-b", "ees-a"]
