"""Callback URLs: refuse those that point into our own network (SSRF).

A subscriber names the URL we POST notifications to. Unless the environment sets
``ECS_ALLOW_PRIVATE_CALLBACKS=1`` (tests, lab set-ups), a URL whose host is or resolves to a
loopback, link-local, private, multicast or unspecified address is refused, at subscription
time and again at delivery time (DNS can change in between).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlparse


def private_callbacks_allowed() -> bool:
    return os.environ.get("ECS_ALLOW_PRIVATE_CALLBACKS") == "1"


def _addresses(host: str) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def problem_with(url: str) -> str:
    """Why the URL may not be called back, or '' when it may."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "must be an absolute http(s) URL"
    if private_callbacks_allowed():
        return ""
    try:
        addresses = _addresses(parsed.hostname)
    except (OSError, UnicodeError):
        return "its host name does not resolve"
    for address in addresses:
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_unspecified
            or address.is_reserved
        ):
            return f"points at a non-public address ({address})"
    return ""
