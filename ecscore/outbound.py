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
  ``failure`` and a reason safe to log (it names no credential);
* with ``public_only`` (a URL learned at run time, such as a subscriber's callback URL), calls
  only a URL that ``ecscore.addresses.check`` accepts -- parsed as the HTTP client parses it,
  every address its host resolves to public -- and connects to exactly the addresses checked
  (``PUBLIC_SESSION`` pins them in the connection, keeping the name for the Host header, TLS
  SNI and the certificate check), so a DNS answer that changes after the check cannot move
  the call into our own network.  A refused URL is a ``Reply`` with ``failure`` ``REFUSED``,
  no connection made.  URLs the operator configured (partner apiRoots, token endpoints) are
  called without the check: operators run partners on private networks.
"""

from __future__ import annotations

import http.cookiejar
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager, key_fn_by_scheme
from urllib3.util.connection import create_connection

from . import addresses
from .middleware import REQUEST_ID_HEADER, current_request_id

MAX_ANSWER_BYTES = 1024 * 1024

# Reply.failure values.
TIMEOUT = "timeout"  # no answer, or no complete answer, before the deadline
TOO_LARGE = "too_large"  # the answer exceeds the limit
UNREACHABLE = "unreachable"  # no answer at all (refused, reset, DNS)
BROKEN = "broken"  # the answer's headers came, then the connection failed
REFUSED = "refused"  # public_only, and the URL may lead into our own network: not called


class AnswerTooLarge(ValueError):
    """The answer exceeded the size limit."""


SESSION = requests.Session()
SESSION.mount("http://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
SESSION.mount("https://", HTTPAdapter(pool_connections=16, pool_maxsize=64))
SESSION.trust_env = False


# --- connections pinned to checked addresses (public_only) -----------------------------------
#
# urllib3 resolves a pool's host name again for every new connection.  For a URL learned at
# run time that second resolution is the DNS-rebinding hole: the name may answer a public
# address to the check and 127.0.0.1 to the connection.  The classes below connect to the
# addresses the check accepted instead; the request keeps the name (Host header, SNI and the
# certificate's host name come from the pool's host, which stays the name).  The addresses
# are part of the pool's key, so a kept-alive connection is reused only for a call whose
# check accepted the same addresses.


class _PinnedConnectionMixin:
    """Connects to ``pinned_addresses`` in turn; never resolves the host name."""

    def __init__(self, *args: Any, pinned_addresses: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        if not self.pinned_addresses:  # fail closed: never fall back to resolving the name
            raise NewConnectionError(conn, "no checked address to connect to")
        error: Exception | None = None
        for address in self.pinned_addresses:
            try:
                return create_connection(
                    (address, conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
                )
                error.__cause__ = exc
            except OSError as exc:
                error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
                error.__cause__ = exc
        assert error is not None
        raise error


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


def _pinned_pool_key(context: dict[str, Any]) -> tuple[Any, ...]:
    rest = {name: value for name, value in context.items() if name != "pinned_addresses"}
    scheme = context["scheme"].lower()
    return (key_fn_by_scheme[scheme](rest), tuple(context.get("pinned_addresses") or ()))


class _PinnedPoolManager(PoolManager):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }
        self.key_fn_by_scheme = {"http": _pinned_pool_key, "https": _pinned_pool_key}


class _PinnedAdapter(HTTPAdapter):
    """Sends a request only to the addresses its ``Target`` (``request.ecs_target``) holds."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _PinnedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        target: addresses.Target | None = getattr(request, "ecs_target", None)
        port = host_params["port"] or addresses.DEFAULT_PORTS.get(host_params["scheme"])
        if (
            target is None
            or not target.addresses
            or (host_params["scheme"], host_params["host"], port)
            != (target.scheme, target.host, target.port)
        ):
            # The prepared URL does not lead where the check looked: never send it.
            raise requests.exceptions.InvalidURL("the URL is not the one checked")
        pool_kwargs["pinned_addresses"] = target.addresses
        return host_params, pool_kwargs


#: The session of ``public_only`` calls: its connections go to checked addresses only.
PUBLIC_SESSION = requests.Session()
PUBLIC_SESSION.mount("http://", _PinnedAdapter(pool_connections=64, pool_maxsize=8))
PUBLIC_SESSION.mount("https://", _PinnedAdapter(pool_connections=64, pool_maxsize=8))
PUBLIC_SESSION.trust_env = False
# Receivers named at run time get no state kept for them between calls.
PUBLIC_SESSION.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


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
    public_only: bool = False,
    method: str = "POST",
) -> Reply:
    """POST (or ``method``: PUT, DELETE) within ``deadline`` (``time.monotonic()``); never
    raises.

    ``json_body`` is sent as ``application/json``; ``data`` as given (bytes, or a form).
    With ``read_body`` false only the status and headers are awaited.  With ``public_only``
    (a URL learned at run time) the URL must pass ``addresses.check`` and the connection goes
    to the addresses checked; else the answer is a ``REFUSED`` reply and nothing is sent.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return Reply(failure=TIMEOUT, reason="timed out")
    target = None
    if public_only:
        try:
            target = addresses.check(url)
        except addresses.Refused as exc:
            return refused(str(exc))
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
        with _send(url, data, sent, (remaining, remaining), target, method) as response:
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


def get(
    url: str,
    deadline: float,
    *,
    headers: dict[str, str] | None = None,
    limit: int = MAX_ANSWER_BYTES,
) -> Reply:
    """GET within ``deadline``, as ``post`` (for a URL the operator configured, such as the
    ECS-ER's JWKS); never raises."""
    return post(url, deadline, headers=headers, limit=limit, method="GET")


def refused(problem: str) -> Reply:
    """The reply of a call not made because its destination was refused."""
    return Reply(failure=REFUSED, reason=f"destination refused: {problem}")


def _send(
    url: str,
    data: Any,
    headers: dict[str, str],
    timeout: tuple[float, float],
    target: addresses.Target | None,
    method: str = "POST",
) -> requests.Response:
    if target is None:
        return SESSION.request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=timeout,
            stream=True,
            allow_redirects=False,
        )
    # What Session.request does, with the checked target handed to the pinning adapter.
    prepared = PUBLIC_SESSION.prepare_request(
        requests.Request(method, url, data=data, headers=headers)
    )
    prepared.ecs_target = target  # type: ignore[attr-defined]
    settings = PUBLIC_SESSION.merge_environment_settings(prepared.url, {}, True, None, None)
    return PUBLIC_SESSION.send(prepared, timeout=timeout, allow_redirects=False, **settings)


def _failed(reply: Reply, failure: str, reason: str, exc: BaseException) -> Reply:
    reply.failure, reply.reason, reply.exception = failure, reason, type(exc).__name__
    reply.body = b""
    return reply
