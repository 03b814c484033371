"""The base view of the 3GPP APIs this ECS serves (EDGE-4, EDGE-6, EDGE-10).

``ThreeGPPAPIView`` is the one place that turns a raw request into a validated JSON document
(411/413/415/400 answered here), checks the per-client rate and turns every error into
ProblemDetails, so the views of each API package stay thin.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import perform_import
from rest_framework.views import APIView

from . import errors, jsontext, ratelimit, schemas
from .apidoc import MERGE_PATCH_JSON
from .problems import ProblemException, problem_exception_handler, problem_response

logger = logging.getLogger(__name__)


class ThreeGPPAPIView(APIView):
    """Base of the 3GPP-defined operations (EDGE-4, EDGE-6, EDGE-10).

    Subclasses name the 3GPP schema of their request body in ``request_schema``
    (file, schema name); ``validated_body()`` returns the parsed JSON document only when it
    conforms, else raises a 400 naming every bad member.
    """

    # Named in settings, as DRF's own defaults are, so this base knows no app: the access
    # app supplies OAuth 2.0 authentication and the scope check.
    authentication_classes = perform_import(
        settings.ECS_API_AUTHENTICATION_CLASSES, "ECS_API_AUTHENTICATION_CLASSES"
    )
    permission_classes = perform_import(
        settings.ECS_API_PERMISSION_CLASSES, "ECS_API_PERMISSION_CLASSES"
    )
    #: The OAuth 2.0 scope a token needs (one per API).
    required_scope = ""
    #: Whether ECS_REQUIRE_AUTH=0 lets calls without a token through (EDGE-4/EDGE-6).
    anonymous_allowed = True
    request_schema: tuple[str, str] | None = None
    #: Whether PATCH takes a JSON Merge Patch (RFC 7396), as 3GPP's PATCH operations do.
    merge_patch = False

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
            raise errors.RateLimited("Too many requests from this client.", retry_after=wait)

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
            body = jsontext.loads(raw)
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
            schemas.check(body, *self.request_schema)
        return body

    def extra_content_types(self) -> tuple[str, ...]:
        return (MERGE_PATCH_JSON,) if self.merge_patch and self.request.method == "PATCH" else ()

    def require_merge_patch(self, request: Request) -> None:
        """A PATCH in any other content type is a 415, before the resource is looked up."""
        if request.content_type.split(";")[0].strip() != MERGE_PATCH_JSON:
            raise ProblemException(415, f"PATCH needs {MERGE_PATCH_JSON}.")


def check_shape(body: Any) -> None:
    """Refuse JSON nested deeper or with longer arrays than any 3GPP body needs, and values
    no database stores (``ecscore.jsontext``), naming the member.

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
                reason = jsontext.name_problem(key)
                if reason:
                    raise _unstorable(pointer, reason)
            stack.extend(
                (value, depth + 1, f"{pointer}/{jsontext.token(key)}")
                for key, value in node.items()
            )
        else:
            # What no database stores (NUL, lone surrogates, 1e999 read as infinity, NaN):
            # said up front, naming the member, rather than failing at the INSERT.
            reason = jsontext.scalar_problem(node)
            if reason:
                raise _unstorable(pointer, reason)


_DETAILS = {
    jsontext.NUL: "NUL characters are not allowed.",
    jsontext.LONE_SURROGATE: "Strings must be Unicode text: lone surrogates are not allowed.",
    jsontext.NOT_FINITE: "Numbers must be finite: NaN, Infinity and numbers out of range "
    "(such as 1e999) are not allowed.",
}


def _unstorable(pointer: str, reason: str) -> ProblemException:
    detail = next((text for key, text in _DETAILS.items() if reason.endswith(key)), reason)
    return ProblemException(
        400, detail, "INVALID_MSG_FORMAT", [{"param": pointer, "reason": reason}]
    )
