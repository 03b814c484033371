"""Every HTTP call this ECS makes goes through here.

Partner ECSs (EDGE-10 requests, their token endpoints, our subscriptions at them),
notification receivers and, later, the NEF and ECS-ER are reached with ``post``, which:

* uses one pooled session that ignores proxies and credentials from the environment
  (``trust_env = False``): nothing between two operators' servers that the operator did not
  configure;
* keeps the whole exchange -- connect, send, the answer's headers and every byte of its body
  -- within one deadline, reading what each receive brings so a peer dripping its answer a
  byte at a time cannot hold the call;
* reads at most ``limit`` bytes of an answer;
* forwards the current request id (``X-Request-ID``) so the peer's logs lead back to ours;
* never follows a redirect and never raises: every way a peer can fail is a ``Reply`` with a
  ``failure`` and a reason safe to log (it names no credential).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .middleware import REQUEST_ID_HEADER, current_request_id

MAX_ANSWER_BYTES = 1024 * 1024

# Reply.failure values.
TIMEOUT = "timeout"  # no answer, or no complete answer, before the deadline
TOO_LARGE = "too_large"  # the answer exceeds the limit
UNREACHABLE = "unreachable"  # no answer at all (refused, reset, DNS)
BROKEN = "broken"  # the answer's headers came, then the connection failed


class AnswerTooLarge(ValueError):
    """The answer exceeded the size limit."""


SESSION = requests.Session()
SESSION.mount("http://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
SESSION.mount("https://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
SESSION.trust_env = False


@dataclass
class Reply:
    """What came back: ``status`` once the headers are in, ``body`` when fully read."""

    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    failure: str = ""  # "" when the answer was read whole
    reason: str = ""  # why it failed, in words
    exception: str = ""  # the exception's type name, when one ended the call

    @property
    def ok(self) -> bool:
        return not self.failure

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


def read_limited(
    response: requests.Response, deadline: float, limit: int = MAX_ANSWER_BYTES
) -> bytes:
    """The body, read so that neither its size nor the time it takes can exceed the limits.

    Each read takes what one receive brings (``read1``), with the socket's timeout set to
    the time left until ``deadline`` (``time.monotonic()``), so a peer dripping its answer
    a byte at a time cannot hold the call beyond its deadline (reading fixed-size chunks
    would wait for each chunk to fill).  Raises ``TimeoutError`` or ``AnswerTooLarge``.
    """
    raw = response.raw
    chunks = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("answer not complete within the timeout")
        sock = getattr(raw.connection, "sock", None)
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(16384, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(f"answer larger than {limit} bytes")
        chunks.append(chunk)


def post(
    url: str,
    deadline: float,
    *,
    json_body: Any = None,
    data: bytes | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    limit: int = MAX_ANSWER_BYTES,
    read_body: bool = True,
) -> Reply:
    """POST within ``deadline`` (``time.monotonic()``); never raises.

    ``json_body`` is sent as ``application/json``; ``data`` as given (bytes, or a form).
    With ``read_body`` false only the status and headers are awaited.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Reply(failure=TIMEOUT, reason="timed out")
    sent = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        sent.setdefault("Content-Type", "application/json")
    request_id = current_request_id()
    if request_id != "-":
        sent.setdefault(REQUEST_ID_HEADER, request_id)
    reply = Reply()
    try:
        with SESSION.post(
            url,
            data=data,
            headers=sent,
            timeout=(remaining, remaining),
            stream=True,
            allow_redirects=False,
        ) as response:
            reply.status = response.status_code
            reply.headers = dict(response.headers)
            if read_body:
                reply.body = read_limited(response, deadline, limit)
    except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as exc:
        return _failed(reply, TIMEOUT, "timed out", exc)
    except TimeoutError as exc:
        return _failed(reply, TIMEOUT, str(exc), exc)
    except AnswerTooLarge as exc:
        return _failed(reply, TOO_LARGE, str(exc), exc)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        if reply.status is None:
            return _failed(reply, UNREACHABLE, f"unreachable ({type(exc).__name__})", exc)
        return _failed(reply, BROKEN, f"answer broken off ({type(exc).__name__})", exc)
    return reply


def _failed(reply: Reply, failure: str, reason: str, exc: BaseException) -> Reply:
    reply.failure, reply.reason, reply.exception = failure, reason, type(exc).__name__
    reply.body = b""
    return reply
