"""Request ids: every request gets one, every log line and change-log row carries it.

A caller may send ``X-Request-ID`` (a partner ECS forwarding its own id, a load balancer);
we keep it when it is short and plain, and mint a UUID otherwise. The response always
returns the id in ``X-Request-ID`` so a support engineer can find the request's trail.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def request_id_scope(request_id: str | None = None) -> Iterator[str]:
    """Run a block (a management command, a worker job) under its own request id."""
    value = request_id or new_request_id()
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


class RequestIDMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        # fullmatch: with match, "$" also matches before a final newline, and a header value
        # with a newline cannot be sent back (BadHeaderError, a 500).
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else new_request_id()
        request.request_id = request_id
        with request_id_scope(request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIDLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs each 4xx/5xx response ("Not Found: /path") after the middleware has
        # returned, outside the request's scope; such records carry the request itself.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current_request_id()
        return True


class AdminLoginThrottleMiddleware:
    """At most ECS_ADMIN_LOGIN_PER_MINUTE login attempts per address and username: no
    password guessing, and one user's mistakes (or an attacker's guesses at one account) do
    not lock out everyone else behind the same proxy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        limit = settings.ECS_ADMIN_LOGIN_PER_MINUTE
        if limit and request.method == "POST" and request.path.endswith("/admin/login/"):
            from . import ratelimit

            address = request.META.get("REMOTE_ADDR", "")
            allowed, wait = ratelimit.hit(f"admin-login:{address}:{_login_name(request)}", limit)
            if not allowed:
                response = HttpResponse(
                    "Too many login attempts; try again later.\n",
                    status=429,
                    content_type="text/plain",
                )
                response["Retry-After"] = str(wait)
                return response
        return self.get_response(request)


def _login_name(request: HttpRequest) -> str:
    """The username a login attempt names, as the login form reads it (stripped; case
    folded, so that case variants share one window), hashed to bound the key's length."""
    try:
        username = request.POST.get("username", "")
    except Exception:  # a body Django cannot parse: the login view refuses it anyway
        username = ""
    folded = str(username).strip().casefold()
    return hashlib.sha256(folded.encode("utf-8", "replace")).hexdigest()[:32]


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached answers 503 with ``Retry-After`` and ProblemDetails,
    for the views DRF's exception handler does not cover (admin, health, metrics, token)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.db import InterfaceError, OperationalError

        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as exc:
            return self.unavailable(exc)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        from .problems import database_unavailable

        return self.unavailable(exc) if database_unavailable(exc) else None

    @staticmethod
    def unavailable(exc: Exception) -> HttpResponse:
        from .problems import database_unavailable_response

        return database_unavailable_response(exc)
