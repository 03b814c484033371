"""How the OAM API appears in the OpenAPI document (``/api/schema/``).

``OAMAutoSchema`` is the schema class of the base viewset, so every OAM operation gets the
same things without a decorator per view: the ``OAM`` tag, the OAM token as its security
(declared once, by ``OAMTokenScheme``), ProblemDetails answers for each error the base viewset
gives, and, for ``POST`` on a collection, a body that is one entry or a list of entries (all
are created or none). The request and response bodies are the resources' own serializers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_array_type

from ecscore import apidoc

#: The security scheme's name in the document.
OAM_TOKEN = "oamToken"
TAG = "OAM"


class OAMTokenScheme(OpenApiAuthenticationExtension):
    """Declares ``OAMTokenAuthentication`` (drf-spectacular finds it by the target class)."""

    target_class = "oam.authentication.OAMTokenAuthentication"
    name = OAM_TOKEN

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An OAM API token (manage.py ecs_oam_token, or the admin), sent as "
            "Authorization: Token <key>. It has its user's model permissions (the operator "
            "and auditor groups); a read-only token reads only.",
        }


class OAMSessionScheme(SessionScheme):
    """The staff session (debug mode's browsable API): known, so not warned about, but not
    offered to scripts (``OAMAutoSchema.get_auth``)."""

    target_class = "oam.authentication.OAMSessionAuthentication"


class OAMAutoSchema(AutoSchema):
    """The schema of every OAM operation (see the module's docstring)."""

    def get_tags(self) -> list[str]:
        return [TAG]

    def get_auth(self) -> list[dict[str, list[str]]]:
        # Only the token: the staff session is for the browsable API in debug mode, and
        # documenting it would invite scripts to use cookies and CSRF tokens.
        # super() also declares the schemes in the document's components.
        return [r for r in super().get_auth() if OAM_TOKEN in r]

    def _is_list_view(self, serializer: Any = None) -> bool:
        # A list that builds its own page (changes/) documents the page, not an array of it.
        if getattr(self.view, "pages_itself", False):
            return False
        return super()._is_list_view(serializer)

    def _error_codes(self) -> tuple[int, ...]:
        codes = {400, 401, 403, 429, 500}
        if self._is_a_detail() or getattr(self.view, "action", None) in {
            "update",
            "partial_update",
            "destroy",
            "invalidate",
            "refresh",
        }:
            codes.add(404)
        if getattr(self.view, "action", None) == "refresh":
            codes.add(503)
        return tuple(sorted(codes))

    def _is_a_detail(self) -> bool:
        return "{" in self.path

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if self._creates_many() and "201" in responses:
            for content in responses["201"].get("content", {}).values():
                content["schema"] = _one_or_many(content["schema"])
        for (code, media_type), answer in apidoc.problems(*self._error_codes()).items():
            responses.setdefault(str(code), self._problem(answer, media_type))
        return responses

    def _problem(self, answer: Any, media_type: str) -> dict[str, Any]:
        return {
            "description": answer.description,
            "content": {media_type: {"schema": answer.response}},
        }

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body = super()._get_request_body(direction)
        if body is not None and self._creates_many():
            for content in body.get("content", {}).values():
                content["schema"] = _one_or_many(content["schema"])
        return body

    def _creates_many(self) -> bool:
        """POST on a collection of the base viewset's ``ReadWrite`` (a list body)."""
        return getattr(self.view, "action", None) == "create" and getattr(
            self.view, "bulk_create", False
        )


def _one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, build_array_type(schema, min_length=1)]}
