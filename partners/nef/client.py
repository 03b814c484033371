"""The one exchange we make with the NEF: create a one-time monitoring subscription.

Through ``ecscore.outbound`` (the NEF's address is the operator's, so no public-address
check) with the Authorization header of ``partners.tokens`` (OAuth 2.0 client credentials,
a 401 to a cached token retried once with a fresh one), within the caller's deadline.
Never raises: every way the NEF can fail is an ``Exchange`` with ``failed`` and a reason fit
for the audit log (no GPSI, no credential).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecscore import outbound

from .. import tokens
from ..models import NEFConfiguration
from . import wire

MAX_ANSWER_BYTES = 256 * 1024


@dataclass
class Exchange:
    status: int | None = None
    reports: list[Any] = field(default_factory=list)
    failed: bool = False
    reason: str = ""


def subscribe(config: NEFConfiguration, body: dict[str, Any], deadline: float) -> Exchange:
    url = wire.subscriptions_url(config.api_root, config.af_id)

    def send(headers: dict[str, str]) -> outbound.Reply:
        sent = {**headers, "Accept": "application/json"}
        return outbound.post(url, deadline, json_body=body, headers=sent, limit=MAX_ANSWER_BYTES)

    try:
        reply = tokens.send_authorized(
            config.credential(), deadline, send, lambda r: r.status == 401
        )
    except tokens.TokenUnavailable as exc:
        return Exchange(exc.status, failed=True, reason=exc.reason)
    if reply.failure:
        return Exchange(reply.status, failed=True, reason=f"NEF: {reply.reason}")
    if reply.status not in (200, 201):
        return Exchange(reply.status, failed=True, reason=f"NEF answered HTTP {reply.status}")
    answer = reply.json()
    if not isinstance(answer, dict):
        return Exchange(reply.status, failed=True, reason="NEF: answer is not a JSON object")
    return Exchange(reply.status, wire.answer_reports(reply.status, answer))
