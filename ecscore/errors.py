"""Errors of the ECS's own logic, knowing nothing of HTTP.

Domain modules (registration, subscriptions, discovery, authorization) raise these; the
API layer turns each into a 3GPP ``ProblemDetails`` answer in one place
(``ecscore.problems``), as NetBox's ``AbortRequest`` is turned into an HTTP answer by its base
viewset. So the same function can serve an API, the admin or a management command, and a
change of status codes touches one table.

``cause`` is the 3GPP cause value (TS 29.500 clause 5.2.7 where the EDGEAPP texts leave it
open); ``invalid_params`` names each offending member by its JSON pointer
(``[{"param": "/expTime", "reason": "..."}]``).
"""

from __future__ import annotations


class ECSError(Exception):
    """A request this ECS will not carry out as asked."""

    default_cause = "SYSTEM_FAILURE"

    def __init__(
        self,
        detail: str,
        cause: str | None = None,
        invalid_params: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.cause = cause or self.default_cause
        self.invalid_params = invalid_params
        self.retry_after = retry_after


class InvalidRequest(ECSError):
    """What was asked is malformed or contradicts itself."""

    default_cause = "INVALID_MSG_FORMAT"


class Forbidden(ECSError):
    """The caller may not do this (identity, ownership, policy, quota)."""

    default_cause = "FORBIDDEN"


class NotFound(ECSError):
    """The resource named does not exist, or not for this caller."""

    default_cause = "RESOURCE_NOT_FOUND"


class RateLimited(ECSError):
    """Too many requests; ``retry_after`` seconds tells when to try again."""

    default_cause = "TOO_MANY_REQUESTS"


class Unavailable(ECSError):
    """A source that should answer could not; ``retry_after`` seconds tells when to retry."""

    default_cause = "SERVICE_UNAVAILABLE"
