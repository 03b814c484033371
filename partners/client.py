"""The HTTP client that asks a partner ECS (EDGE-10 Request).

A call never outlives the partner's timeout, never reads more than 1 MiB, and turns every
way a partner can misbehave into a ``PartnerReply`` of kind ``fault`` with a reason -- it
never raises.  ``refused`` (401/403) is kept apart: a partner saying no is not a fault.
No credential ever reaches a log line.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ecsportal.middleware import REQUEST_ID_HEADER

from . import edge10

MAX_ANSWER_BYTES = 1024 * 1024

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


_session = requests.Session()
_session.mount("http://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
_session.mount("https://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
_session.trust_env = False  # no proxy from the environment between two ECSs


def _read_limited(response: requests.Response, started: float, timeout: float) -> bytes:
    """The body, read so that neither its size nor the time it takes can exceed the limits.

    Each read takes what one receive brings (``read1``), with the socket's timeout set to
    the time left, so a partner dripping its answer a byte at a time cannot hold the call
    beyond its timeout (reading fixed-size chunks would wait for each chunk to fill).
    """
    raw = response.raw
    chunks = []
    size = 0
    while True:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            raise TimeoutError("answer not complete within the timeout")
        sock = getattr(raw.connection, "sock", None)
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(16384, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ValueError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)


def request_provisioning(
    api_root: str, token: str, body: dict[str, Any], timeout: float, request_id: str
) -> PartnerReply:
    started = time.monotonic()

    def reply(kind: str, status: int | None = None, reason: str = "", configs=None):
        return PartnerReply(
            kind, status, configs or [], reason, (time.monotonic() - started) * 1000
        )

    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        REQUEST_ID_HEADER: request_id,
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status: int | None = None  # known once the partner's headers are in
    try:
        with _session.post(
            edge10.request_url(api_root),
            data=json.dumps(body).encode("utf-8"),
            headers=headers,
            timeout=(timeout, timeout),
            stream=True,
            allow_redirects=False,
        ) as response:
            status = response.status_code
            raw = _read_limited(response, started, timeout)
    except (requests.Timeout, urllib3.exceptions.ReadTimeoutError):
        return reply(FAULT, status, reason="timed out")
    except TimeoutError as exc:
        return reply(FAULT, status, reason=str(exc))
    except ValueError as exc:
        return reply(FAULT, status, reason=str(exc))
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        if status is None:
            return reply(FAULT, reason=f"unreachable ({type(exc).__name__})")
        return reply(FAULT, status, reason=f"answer broken off ({type(exc).__name__})")
    if status in (401, 403):
        return reply(REFUSED, status, f"refused with HTTP {status}")
    if status == 204:
        return reply(EMPTY, status)
    if status != 200:
        return reply(FAULT, status, f"answered HTTP {status}")
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return reply(FAULT, status, "answer is not JSON")
    errors = edge10.response_errors(answer)
    if errors:
        first = errors[0]
        return reply(
            FAULT, status, f"answer breaks the schema at {first['param']}: {first['reason']}"[:250]
        )
    return reply(OK, status, configs=edge10.edn_configs(answer))
