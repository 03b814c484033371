"""The HTTP client that asks a partner ECS (EDGE-10 Request).

A call never outlives the partner's timeout, never reads more than 1 MiB, and turns every
way a partner can misbehave into a ``PartnerReply`` of kind ``fault`` with a reason -- it
never raises.  ``refused`` (401/403) is kept apart: a partner saying no is not a fault.
The bearer presented comes from ``partners.tokens`` (a static token, or an access token
obtained at the partner's token endpoint within the same timeout).
No credential ever reaches a log line.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ecscore import outbound
from ecscore.middleware import REQUEST_ID_HEADER

from .. import tokens
from . import wire as edge10

MAX_ANSWER_BYTES = outbound.MAX_ANSWER_BYTES

OK = "ok"  # 200 with a valid ServProvResp
EMPTY = "empty"  # 204: the partner has nothing for this query
REFUSED = "refused"  # 401/403
FAULT = "fault"  # anything else: down, slow, non-2xx, non-JSON, invalid, too large


@dataclass
class PartnerReply:
    kind: str
    status: int | None = None
    configs: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    latency_ms: float = 0.0


def request_provisioning(
    api_root: str,
    credential: str | tokens.ClientCredentials,
    body: dict[str, Any],
    timeout: float,
    request_id: str,
) -> PartnerReply:
    """Ask the partner (EDGE-10 Request) within ``timeout`` seconds, token endpoint included.

    ``credential`` is what ``PartnerECS.outbound_credential()`` gives: a static token, or the
    client credentials (``tokens.ClientCredentials``) with which an access token is obtained.
    """
    started = time.monotonic()
    deadline = started + timeout
    payload = json.dumps(body).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        REQUEST_ID_HEADER: request_id,
    }

    def send(authorization: dict[str, str]) -> PartnerReply:
        return _exchange(
            edge10.request_url(api_root), payload, {**headers, **authorization}, deadline
        )

    try:
        reply = tokens.send_authorized(credential, deadline, send, lambda r: r.status == 401)
    except tokens.TokenUnavailable as exc:
        reply = PartnerReply(REFUSED if exc.refused else FAULT, exc.status, reason=exc.reason)
    reply.latency_ms = (time.monotonic() - started) * 1000
    return reply


def _exchange(url: str, payload: bytes, headers: dict[str, str], deadline: float) -> PartnerReply:
    """One POST of the request with the time left until ``deadline``; never raises."""
    reply = outbound.post(url, deadline, data=payload, headers=headers, limit=MAX_ANSWER_BYTES)
    status = reply.status
    if not reply.ok:
        return PartnerReply(FAULT, status, reason=reply.reason)
    if status in (401, 403):
        return PartnerReply(REFUSED, status, reason=f"refused with HTTP {status}")
    if status == 204:
        return PartnerReply(EMPTY, status)
    if status != 200:
        return PartnerReply(FAULT, status, reason=f"answered HTTP {status}")
    try:
        answer = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        return PartnerReply(FAULT, status, reason="answer is not JSON")
    errors = edge10.response_errors(answer)
    if errors:
        first = errors[0]
        return PartnerReply(
            FAULT,
            status,
            reason=f"answer breaks the schema at {first['param']}: {first['reason']}"[:250],
        )
    return PartnerReply(OK, status, configs=edge10.edn_configs(answer))
