"""3GPP ProblemDetails: the one place where an error becomes an HTTP answer.

Every error any API of ours returns is a TS 29.122 ``ProblemDetails`` body served as
``application/problem+json``; cause values follow TS 29.500 clause 5.2.7 where 3GPP's
EDGEAPP texts leave them open. Domain code raises ``ecscore.errors`` exceptions, which know
nothing of HTTP; ``problem_exception_handler`` (DRF's exception handler, and the base view's)
maps them, DRF's own exceptions and Django's to status codes here. ``ProblemException`` is
for the HTTP layer itself (a missing Content-Length, a wrong media type).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.response import Response

from . import errors

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: The status each domain error answers with.
ERROR_STATUS: dict[type[errors.ECSError], int] = {
    errors.InvalidRequest: 400,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

DEFAULT_CAUSES = {
    400: "INVALID_MSG_FORMAT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "SYSTEM_FAILURE",
    503: "SERVICE_UNAVAILABLE",
}


def problem_body(
    status_code: int,
    detail: str = "",
    cause: str | None = None,
    invalid_params: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
    }
    if detail:
        body["detail"] = detail
    body["cause"] = cause or DEFAULT_CAUSES.get(status_code, "SYSTEM_FAILURE")
    if invalid_params:
        body["invalidParams"] = invalid_params
    return body


def problem_response(
    status_code: int,
    detail: str = "",
    cause: str | None = None,
    invalid_params: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        problem_body(status_code, detail, cause, invalid_params),
        status=status_code,
        content_type=PROBLEM_JSON,
        headers=headers,
    )


class ProblemException(exceptions.APIException):
    """Raise from anywhere below a view to answer with a specific ProblemDetails."""

    def __init__(
        self,
        status_code: int,
        detail: str = "",
        cause: str | None = None,
        invalid_params: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or TITLES.get(status_code, "Error"))
        self.status_code = status_code
        self.problem_detail = detail
        self.cause = cause
        self.invalid_params = invalid_params
        self.headers = headers or {}


def _pointer(path: list[str]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def serializer_errors_to_invalid_params(detail: Any, path: list[str] | None = None) -> list[dict]:
    """Flatten a DRF ValidationError detail into InvalidParam objects with JSON pointers."""
    path = path or []
    if isinstance(detail, dict):
        params: list[dict[str, str]] = []
        for key, value in detail.items():
            sub = path if key == "non_field_errors" else [*path, str(key)]
            params.extend(serializer_errors_to_invalid_params(value, sub))
        return params
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"param": _pointer(path), "reason": " ".join(map(str, detail))}]
        params = []
        for index, item in enumerate(detail):
            if item:
                params.extend(serializer_errors_to_invalid_params(item, [*path, str(index)]))
        return params
    return [{"param": _pointer(path), "reason": str(detail)}]


def status_of(exc: errors.ECSError | ProblemException) -> int:
    """The HTTP status an error answers with."""
    if isinstance(exc, ProblemException):
        return exc.status_code
    return next((code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 500)


#: Seconds a client is told to wait when the database is away (a restart takes a few).
DATABASE_RETRY_AFTER = 5


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (not a bad query)."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable_body() -> dict[str, Any]:
    return problem_body(503, "The database is unavailable; retry later.", "SERVICE_UNAVAILABLE")


def _body_timeout() -> JsonResponse:
    # The body never came (gunicorn.conf.py's body_timeout): nothing more will be read from
    # this connection, so the answer closes it.
    response = JsonResponse(
        problem_body(408, "The request body did not arrive in time.", "REQUEST_TIMEOUT"),
        status=408,
        content_type=PROBLEM_JSON,
    )
    response["Connection"] = "close"
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every API error becomes ProblemDetails."""
    if database_unavailable(exc):
        logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return problem_response(
            503,
            "The database is unavailable; retry later.",
            "SERVICE_UNAVAILABLE",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
    if isinstance(exc, ProblemException):
        return problem_response(
            exc.status_code, exc.problem_detail, exc.cause, exc.invalid_params, exc.headers
        )
    if isinstance(exc, errors.ECSError):
        code = status_of(exc)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return problem_response(code, exc.detail, exc.cause, exc.invalid_params, headers)
    if isinstance(exc, UnreadablePostError):
        return _body_timeout()
    if isinstance(exc, RequestDataTooBig):
        return problem_response(413, "The request body is larger than this server accepts.")
    # Django parses form bodies lazily: whoever first reads request.POST (an authenticator
    # looking for credentials, say) meets a malformed multipart or form body here.
    if isinstance(exc, MultiPartParserError | BadRequest | SuspiciousOperation):
        return problem_response(
            400, "The request body cannot be parsed as its Content-Type says.", "INVALID_MSG_FORMAT"
        )
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            400,
            "The request is not valid.",
            "INVALID_MSG_FORMAT",
            serializer_errors_to_invalid_params(exc.detail),
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait)))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            exc.status_code = status.HTTP_401_UNAUTHORIZED
        return problem_response(exc.status_code, str(exc.detail), headers=headers)
    if isinstance(exc, Http404):
        return problem_response(404, "No such resource.")
    if isinstance(exc, PermissionDenied):
        return problem_response(403, "Permission denied.")
    return None


API_PATH_PREFIXES = ("/eecs-", "/api/")


def _is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def database_unavailable_response(exc: Exception) -> JsonResponse:
    """The 503 of an unreachable database, outside DRF (middleware, the 500 handler)."""
    logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    response = JsonResponse(database_unavailable_body(), status=503, content_type=PROBLEM_JSON)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def handler404(request: HttpRequest, exception: Exception | None = None):
    if _is_api_path(request):
        return JsonResponse(
            problem_body(404, "No such resource."), status=404, content_type=PROBLEM_JSON
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    # Called while the exception is being handled: a database that cannot be reached (met
    # in a middleware, before any view) is a 503 to retry, not a server error.
    current = sys.exc_info()[1]
    if current is not None and database_unavailable(current):
        return database_unavailable_response(current)
    if isinstance(current, UnreadablePostError):
        return _body_timeout()
    if _is_api_path(request):
        return JsonResponse(
            problem_body(500, "The server could not complete the request."),
            status=500,
            content_type=PROBLEM_JSON,
        )
    from django.views.defaults import server_error

    return server_error(request)
