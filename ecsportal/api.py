"""Shared API behaviour: 3GPP ProblemDetails errors and the base view of the EDGE APIs.

Every error any API of ours returns is a TS 29.122 ``ProblemDetails`` body served as
``application/problem+json``; cause values follow TS 29.500 clause 5.2.7 where 3GPP's
EDGEAPP texts leave them open. ``ThreeGPPAPIView`` is the one place that turns a raw request
into a validated JSON document (411/413/415/400 handled here), so API views stay thin.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.authentication import OAuth2ClientAuthentication, ScopedAccess

from . import ratelimit, schemas

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
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


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every API error becomes ProblemDetails."""
    if isinstance(exc, ProblemException):
        return problem_response(
            exc.status_code, exc.problem_detail, exc.cause, exc.invalid_params, exc.headers
        )
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
    from django.http import Http404

    if isinstance(exc, Http404):
        return problem_response(404, "No such resource.")
    from django.core.exceptions import PermissionDenied

    if isinstance(exc, PermissionDenied):
        return problem_response(403, "Permission denied.")
    return None


class ThreeGPPAPIView(APIView):
    """Base of the 3GPP-defined operations (EDGE-4, EDGE-6, EDGE-10).

    Subclasses name the 3GPP schema of their request body in ``request_schema``
    (file, schema name); ``validated_body()`` returns the parsed JSON document only when it
    conforms, else raises a 400 naming every bad member.
    """

    authentication_classes = [OAuth2ClientAuthentication]
    permission_classes = [ScopedAccess]
    #: The OAuth 2.0 scope a token needs (one per API).
    required_scope = ""
    #: Whether ECS_REQUIRE_AUTH=0 lets calls without a token through (EDGE-4/EDGE-6).
    anonymous_allowed = True
    request_schema: tuple[str, str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.check_client_rate(request)

    def check_client_rate(self, request: Request) -> None:
        """Per-client limit: an OAuth client by its id, anyone else by address."""
        limit = settings.ECS_CLIENT_RATE_PER_MINUTE
        if not limit:
            return
        token = getattr(request.user, "token", None)
        if token is not None:
            key = f"client:{token.application_id}"
        else:
            key = f"addr:{request._request.META.get('REMOTE_ADDR', '')}"
        allowed, wait = ratelimit.hit(key, limit)
        if not allowed:
            raise ProblemException(
                429,
                "Too many requests from this client.",
                "TOO_MANY_REQUESTS",
                headers={"Retry-After": str(wait)},
            )

    def handle_exception(self, exc: Exception) -> Response:
        response = problem_exception_handler(exc, {"view": self})
        if response is not None:
            if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
                header = self.get_authenticate_header(self.request)
                if header:
                    response["WWW-Authenticate"] = header
            return response
        logger.exception("Unhandled error in %s", type(self).__name__)
        return problem_response(500, "The server could not complete the request.")

    def validated_body(self, request: Request) -> Any:
        django_request: HttpRequest = request._request
        raw_length = django_request.META.get("CONTENT_LENGTH", "")
        chunked = "chunked" in django_request.headers.get("Transfer-Encoding", "").lower()
        # Under WSGI, Django reads no body at all without a Content-Length (chunked or not),
        # so such a body would look empty; only an ASGI server hands over a chunked body.
        if isinstance(django_request, WSGIRequest):
            chunked = False
        if not raw_length and not chunked:
            raise ProblemException(411, "The request must carry a Content-Length header.")
        try:
            length = int(raw_length) if raw_length else 0
        except ValueError as exc:
            raise ProblemException(400, "Content-Length is not a number.") from exc
        if length > settings.ECS_MAX_BODY_BYTES:
            raise ProblemException(
                413, f"The request body exceeds {settings.ECS_MAX_BODY_BYTES} bytes."
            )
        content_type = django_request.content_type or ""
        if content_type not in ("application/json", *self.extra_content_types()):
            raise ProblemException(
                415,
                f"Content type {content_type or '(none)'!r} is not supported; "
                "send application/json.",
            )
        try:
            raw = django_request.body
        except RequestDataTooBig as exc:
            raise ProblemException(413, "The request body is too large.") from exc
        if len(raw) > settings.ECS_MAX_BODY_BYTES:
            raise ProblemException(413, "The request body is too large.")
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ProblemException(
                400, "The request body is nested too deeply.", "INVALID_MSG_FORMAT"
            ) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProblemException(
                400, f"The request body is not valid JSON: {exc}", "INVALID_MSG_FORMAT"
            ) from exc
        check_shape(body)
        if self.request_schema is not None:
            self.check_schema(body, *self.request_schema)
        return body

    def extra_content_types(self) -> tuple[str, ...]:
        return ()

    @staticmethod
    def check_schema(body: Any, file_name: str, schema_name: str) -> None:
        params = schemas.invalid_params(schemas.validator(file_name, schema_name), body)
        if params:
            missing = any(p["reason"] == "is required" for p in params)
            raise ProblemException(
                400,
                f"The request body does not conform to {schema_name}.",
                "MANDATORY_IE_MISSING" if missing else "MANDATORY_IE_INCORRECT",
                params,
            )


def check_shape(body: Any) -> None:
    """Refuse JSON nested deeper or with longer arrays than any 3GPP body needs.

    Validation and matching walk the whole document; these limits keep that work bounded
    whatever a client sends (ECS_MAX_JSON_DEPTH, ECS_MAX_JSON_ARRAY).
    """
    max_depth = settings.ECS_MAX_JSON_DEPTH
    max_items = settings.ECS_MAX_JSON_ARRAY
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        node, depth, pointer = stack.pop()
        if isinstance(node, dict | list) and depth > max_depth:
            raise ProblemException(
                400,
                f"The request body is nested deeper than {max_depth} levels.",
                "INVALID_MSG_FORMAT",
                [{"param": pointer, "reason": "nested too deeply"}],
            )
        if isinstance(node, list):
            if len(node) > max_items:
                raise ProblemException(
                    400,
                    f"An array in the request body has more than {max_items} items.",
                    "INVALID_MSG_FORMAT",
                    [{"param": pointer, "reason": f"more than {max_items} items"}],
                )
            stack.extend((item, depth + 1, f"{pointer}/{i}") for i, item in enumerate(node))
        elif isinstance(node, dict):
            for key in node:
                if "\x00" in key:
                    raise ProblemException(
                        400,
                        "NUL characters are not allowed.",
                        "INVALID_MSG_FORMAT",
                        [{"param": pointer, "reason": "a member name holds a NUL character"}],
                    )
            stack.extend((value, depth + 1, f"{pointer}/{key}") for key, value in node.items())
        elif isinstance(node, str) and "\x00" in node:
            # No database stores NUL in text (PostgreSQL refuses it): say so up front.
            raise ProblemException(
                400,
                "NUL characters are not allowed.",
                "INVALID_MSG_FORMAT",
                [{"param": pointer, "reason": "holds a NUL character"}],
            )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


API_PATH_PREFIXES = ("/eecs-", "/api/")


def _is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def handler404(request: HttpRequest, exception: Exception | None = None):
    if _is_api_path(request):
        return JsonResponse(
            problem_body(404, "No such resource."), status=404, content_type=PROBLEM_JSON
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if _is_api_path(request):
        return JsonResponse(
            problem_body(500, "The server could not complete the request."),
            status=500,
            content_type=PROBLEM_JSON,
        )
    from django.views.defaults import server_error

    return server_error(request)
