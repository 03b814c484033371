"""Real HTTP servers on loopback ports for tests: partner ECSs, token endpoints, callbacks.

A test describes only how its peer answers (``respond``); the server, its thread, its port
and its shutdown are here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as the peer saw it."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Reply:
    status: int
    body: Any = None  # a JSON document, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Respond = Callable[[Received], Reply]


class LoopbackServer:
    """Serves ``respond`` on ``host`` (127.0.0.1; a free port unless ``port``) until
    ``close()``."""

    def __init__(self, respond: Respond, port: int = 0, host: str = "127.0.0.1") -> None:
        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    self.command, self.path, dict(self.headers), self.rfile.read(length)
                )
                reply = respond(received)
                body = reply.body
                if body is not None and not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    if body:
                        self.send_header("Content-Type", reply.content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body or b"")))
                    self.end_headers()
                    if body:
                        self.wfile.write(body)
                except OSError:
                    pass  # the client is gone (it gave up, or was killed): its business

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128  # the worker opens dozens of connections at once

        self.server = Server((host, port), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
