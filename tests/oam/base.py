"""Generic tests of an OAM API resource, in the manner of NetBox's ``APIViewTestCases``.

A resource's test is a class that mixes in what the resource does (``List``, ``Get``,
``Create``, ``Update``, ``Delete``, ``Filters``) and gives data: its path, how to make N
objects, what to create and change, which filters find which objects. The mixins check
what every resource owes: the 3GPP-style ProblemDetails for every error, 401 without a
token, 403 without the model permission or with a read-only token, a list body created all
or none, invalidParams naming members by JSON pointer with nothing written, unknown query
parameters refused, and a list whose number of queries does not grow with its rows.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from cachalot.api import invalidate as cachalot_invalidate
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from oam.models import OAMToken
from tests.conftest import clear_cache

API = "/api/oam/v1/"
PROBLEM_JSON = "application/problem+json"


class OAMClient:
    """The Django test client speaking JSON with an OAM token."""

    def __init__(self, key: str | None, request_id: str | None = None) -> None:
        self.client = Client()
        self.key = key
        self.request_id = request_id

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Token {self.key}"
        if self.request_id is not None:
            headers["HTTP_X_REQUEST_ID"] = self.request_id
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(_url(path), params or {}, **self.headers())

    def send(self, method: str, path: str, body: Any = None) -> Any:
        call = getattr(self.client, method.lower())
        data = json.dumps(body) if body is not None else ""
        return call(_url(path), data, content_type="application/json", **self.headers())

    def post(self, path: str, body: Any = None) -> Any:
        return self.send("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.send("PUT", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.send("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.send("DELETE", path)


def _url(path: str) -> str:
    return path if path.startswith("/") or path.startswith("http") else API + path


def make_user(username: str, group: str | None = None) -> Any:
    user = get_user_model().objects.create_user(username)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def api_for(username: str, group: str | None = None, read_only: bool = False) -> OAMClient:
    user = make_user(username, group)
    _, key = OAMToken.objects.issue(user, read_only=read_only)
    return OAMClient(key)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The answer is a ProblemDetails of this status; its body."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith(PROBLEM_JSON), response["Content-Type"]
    body = response.json()
    assert body["status"] == status and body["cause"], body
    return body


def pointers(response: Any) -> set[str]:
    """The JSON pointers a 400 names."""
    return {p["param"] for p in assert_problem(response, 400).get("invalidParams", [])}


def ids_of(response: Any, key: str = "id") -> list[Any]:
    assert response.status_code == 200, response.content[:2000]
    return [item[key] for item in response.json()["results"]]


def list_queries(api: OAMClient, path: str) -> tuple[int, list[str], Any]:
    """The queries one list request runs from a cold cache (cachalot answers nothing)."""
    api.get(path)  # the token's first use of the minute also writes its last_used
    clear_cache()
    cachalot_invalidate()
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, {"limit": 1000})
    assert response.status_code == 200, response.content[:2000]
    sql = [q["sql"] for q in captured.captured_queries]
    return len(sql), sql, response


@pytest.mark.django_db
class APITestCase:
    """Data every resource test gives, and the clients the tests use."""

    #: The resource's path below /api/oam/v1/, with the trailing slash ("partners/").
    resource: ClassVar[str]
    #: The model behind it (what is counted to see that nothing was written).
    model: ClassVar[Any]
    #: The key that names an object in its URL.
    lookup_key: ClassVar[str] = "id"
    #: Who can read and write it (a role group), and who can only read it.
    writer_group: ClassVar[str | None] = "operator"
    reader_group: ClassVar[str | None] = "operator"

    def make(self, count: int, start: int = 0) -> list[Any]:
        """Make ``count`` objects (numbered from ``start``); their ids in the API."""
        raise NotImplementedError

    @pytest.fixture
    def writer(self) -> OAMClient:
        return api_for("writer", self.writer_group)

    @pytest.fixture
    def reader(self) -> OAMClient:
        return api_for("reader", self.reader_group)

    @pytest.fixture
    def nobody(self) -> OAMClient:
        """A valid token of a user without any permission."""
        return api_for("nobody")

    @pytest.fixture
    def read_only(self) -> OAMClient:
        return api_for("read-only", self.writer_group, read_only=True)

    def detail(self, object_id: Any) -> str:
        return f"{self.resource}{object_id}/"


class List(APITestCase):
    #: Queries a list may run at most (token, permissions, the page, prefetches).
    max_list_queries: ClassVar[int] = 10

    def test_list(self, reader):
        made = self.make(3)
        listed = ids_of(reader.get(self.resource), self.lookup_key)
        assert set(made) <= set(listed)

    def test_list_pages_by_cursor(self, reader):
        made = self.make(3)
        first = reader.get(self.resource, {"limit": 2})
        assert first.status_code == 200
        page = first.json()
        assert len(page["results"]) == 2 and page["next"]
        rest = reader.get(page["next"])
        seen = [item[self.lookup_key] for item in page["results"] + rest.json()["results"]]
        assert set(made) <= set(seen) and len(seen) == len(set(seen))

    def test_list_without_a_token_is_401(self):
        self.make(1)
        body = assert_problem(OAMClient(None).get(self.resource), 401)
        assert body["cause"] == "UNAUTHORIZED"

    def test_a_wrong_token_is_401(self):
        assert_problem(OAMClient("not-a-key").get(self.resource), 401)

    def test_list_without_the_permission_is_403(self, nobody):
        assert_problem(nobody.get(self.resource), 403)

    def test_an_unknown_query_parameter_is_400(self, reader):
        body = assert_problem(reader.get(self.resource, {"no_such_filter": "1"}), 400)
        assert [p["param"] for p in body["invalidParams"]] == ["no_such_filter"]

    def test_the_query_count_of_a_list_does_not_grow_with_its_rows(self, reader):
        self.make(2)
        small, _, _ = list_queries(reader, self.resource)
        self.make(20, start=2)
        large, sql, response = list_queries(reader, self.resource)
        assert len(response.json()["results"]) >= 22
        assert small == large, "\n".join(q[:200] for q in sql)
        assert large <= self.max_list_queries, "\n".join(q[:200] for q in sql)


class Get(APITestCase):
    def test_get(self, reader):
        (made,) = self.make(1)
        response = reader.get(self.detail(made))
        assert response.status_code == 200, response.content
        assert response.json()[self.lookup_key] == made
        self.check_representation(response.json())

    def check_representation(self, body: dict[str, Any]) -> None:
        """What the resource's representation must (not) hold (secrets, say)."""

    def test_get_unknown_is_404(self, reader):
        assert_problem(reader.get(self.detail("no-such-object")), 404)


class Create(APITestCase):
    #: Valid bodies, at least three, that do not clash with ``make``'s objects.
    create_data: ClassVar[list[dict[str, Any]]]
    #: (body, JSON pointer that must be named) of invalid bodies.
    invalid_data: ClassVar[list[tuple[dict[str, Any], str]]] = []

    def prepare_create(self) -> None:
        """What must exist before ``create_data`` can be created (a partner, an EDN)."""

    def test_create(self, writer):
        self.prepare_create()
        before = self.model.objects.count()
        response = writer.post(self.resource, self.create_data[0])
        assert response.status_code == 201, response.content
        assert self.model.objects.count() == before + 1
        made = response.json()[self.lookup_key]
        assert writer.get(self.detail(made)).status_code == 200

    def test_bulk_create(self, writer):
        self.prepare_create()
        before = self.model.objects.count()
        response = writer.post(self.resource, self.create_data)
        assert response.status_code == 201, response.content
        assert len(response.json()) == len(self.create_data)
        assert self.model.objects.count() == before + len(self.create_data)

    def test_bulk_create_is_all_or_none(self, writer):
        self.prepare_create()
        before = self.model.objects.count()
        body, pointer = self.invalid_data[0]
        response = writer.post(self.resource, [*self.create_data[:2], body])
        assert f"/2{pointer}" in pointers(response)
        assert self.model.objects.count() == before

    def test_an_entry_listed_twice_in_one_body_is_refused(self, writer):
        self.prepare_create()
        before = self.model.objects.count()
        response = writer.post(self.resource, [self.create_data[0], self.create_data[0]])
        assert_problem(response, 400)
        assert self.model.objects.count() == before

    def test_invalid_bodies_name_the_member_and_write_nothing(self, writer):
        self.prepare_create()
        before = self.model.objects.count()
        for body, pointer in self.invalid_data:
            assert pointer in pointers(writer.post(self.resource, body)), body
        assert self.model.objects.count() == before

    def test_a_body_that_is_no_object_is_400(self, writer):
        assert_problem(writer.post(self.resource, "text"), 400)
        assert_problem(writer.post(self.resource, []), 400)

    def test_create_without_the_permission_is_403(self, nobody, reader):
        self.prepare_create()
        before = self.model.objects.count()
        assert_problem(nobody.post(self.resource, self.create_data[0]), 403)
        if self.reader_group != self.writer_group:
            assert_problem(reader.post(self.resource, self.create_data[0]), 403)
        assert self.model.objects.count() == before

    def test_a_read_only_token_cannot_create(self, read_only):
        self.prepare_create()
        before = self.model.objects.count()
        body = assert_problem(read_only.post(self.resource, self.create_data[0]), 403)
        assert "read-only" in body["detail"]
        assert self.model.objects.count() == before

    def test_create_without_a_token_is_401(self):
        self.prepare_create()
        assert_problem(OAMClient(None).post(self.resource, self.create_data[0]), 401)


class Update(APITestCase):
    #: A PATCH body, and (key, value) that a read gives afterwards.
    patch_data: ClassVar[dict[str, Any]]
    #: An invalid PATCH body and the pointer it is refused at.
    invalid_patch: ClassVar[tuple[dict[str, Any], str]]

    def test_patch(self, writer):
        (made,) = self.make(1)
        response = writer.patch(self.detail(made), self.patch_data)
        assert response.status_code == 200, response.content
        read = writer.get(self.detail(made)).json()
        for key, value in self.patch_data.items():
            assert read[key] == value, (key, read)

    def test_put_is_the_whole_entry(self, writer):
        (made,) = self.make(1)
        entry = writer.get(self.detail(made)).json()
        entry.update(self.patch_data)
        response = writer.put(self.detail(made), entry)
        assert response.status_code == 200, response.content
        assert writer.get(self.detail(made)).json() == response.json()

    def test_an_invalid_patch_names_the_member_and_changes_nothing(self, writer):
        (made,) = self.make(1)
        before = writer.get(self.detail(made)).json()
        body, pointer = self.invalid_patch
        assert pointer in pointers(writer.patch(self.detail(made), body))
        assert writer.get(self.detail(made)).json() == before

    def test_a_read_only_token_cannot_change(self, read_only):
        (made,) = self.make(1)
        assert_problem(read_only.patch(self.detail(made), self.patch_data), 403)

    def test_change_without_the_permission_is_403(self, nobody):
        (made,) = self.make(1)
        assert_problem(nobody.patch(self.detail(made), self.patch_data), 403)


class Delete(APITestCase):
    def test_delete(self, writer):
        (made,) = self.make(1)
        before = self.model.objects.count()
        assert writer.delete(self.detail(made)).status_code == 204
        assert self.model.objects.count() == before - 1
        assert_problem(writer.get(self.detail(made)), 404)

    def test_a_read_only_token_cannot_delete(self, read_only):
        (made,) = self.make(1)
        before = self.model.objects.count()
        assert_problem(read_only.delete(self.detail(made)), 403)
        assert self.model.objects.count() == before

    def test_delete_without_the_permission_is_403(self, nobody):
        (made,) = self.make(1)
        assert_problem(nobody.delete(self.detail(made)), 403)


class Filters(APITestCase):
    """``filters``: (query parameters, the ids the list gives), on ``make_filtered()``'s
    objects."""

    filters: ClassVar[list[tuple[dict[str, str], set[Any]]]]
    #: (query parameters, the parameter named) of filter values that are not valid.
    invalid_filters: ClassVar[list[tuple[dict[str, str], str]]] = []

    def make_filtered(self) -> None:
        raise NotImplementedError

    def test_filters(self, reader):
        self.make_filtered()
        for params, expected in self.filters:
            assert set(ids_of(reader.get(self.resource, params), self.lookup_key)) == expected, (
                params
            )

    def test_an_invalid_filter_value_is_400(self, reader):
        for params, name in self.invalid_filters:
            body = assert_problem(reader.get(self.resource, params), 400)
            assert name in {p["param"].lstrip("/") for p in body.get("invalidParams", [])}, body


class ReadWrite(List, Get, Create, Update, Delete, Filters):
    """A resource read and written as configuration-file entries."""
