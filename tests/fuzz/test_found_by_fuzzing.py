"""Plain regression tests for what fuzzing the APIs found.

A request body Django cannot parse as the form its Content-Type announces (multipart without
a boundary, a form with more fields than Django takes) was a 500: with a Bearer token, the
OAuth authenticator reads ``request.POST`` before any view code runs.  It is a 400
ProblemDetails now, on every API.
"""

from __future__ import annotations

import pytest

from tests.builders import EDGE4_REQUEST, EDGE10_REQUEST, REGISTRATIONS, make_partner
from tests.openapi import assert_valid

pytestmark = pytest.mark.django_db

PARTNER_TOKEN = "regression-partner-token-0123456789abcdef"


def assert_bad_request(response) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert_valid(body, "TS29122_CommonData.yaml", "ProblemDetails")
    assert body["cause"] == "INVALID_MSG_FORMAT"


@pytest.mark.parametrize("path", [EDGE4_REQUEST, REGISTRATIONS])
def test_multipart_without_a_boundary_is_a_bad_request(client, path):
    response = client.post(
        path, b'{"eecId": "eec-1"}', "multipart/form-data", HTTP_AUTHORIZATION="Bearer abc"
    )
    assert_bad_request(response)


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_multipart_without_a_boundary_to_edge10_is_a_bad_request(client, content_type):
    make_partner("ecs.partner.example", inbound_token=PARTNER_TOKEN)
    response = client.post(
        EDGE10_REQUEST,
        b'{"reqEcsId": "ecs.partner.example"}',
        content_type,
        HTTP_AUTHORIZATION=f"Bearer {PARTNER_TOKEN}",
    )
    assert_bad_request(response)


def test_a_form_with_too_many_fields_is_a_bad_request(client):
    response = client.post(
        EDGE4_REQUEST,
        b"a=1&" * 2000,
        "application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Bearer abc",
    )
    assert_bad_request(response)
