"""Where a URL learned at run time may lead: one parse, every address checked (SSRF).

A subscriber names the URL we call back; a URL like that must not lead the ECS into its own
network.  Checking it is only worth something if the check looks at the host the HTTP client
will connect to, so this module:

* parses the URL with the parser the HTTP client uses (``urllib3.util.parse_url``, as
  ``requests`` does), and refuses every URL whose reading could differ between parsers:
  backslashes, user information (``@``) or percent-encoding in the authority, characters no
  URL holds, host names that are IPv4 addresses in another spelling (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.1``), IPv6 zone ids, trailing dots, schemes other than
  http(s), a missing host or port 0.  As a last guard, ``urllib.parse`` must read the same
  host and port;
* resolves the host once and checks *every* address it resolves to (``problem_with_address``:
  private, loopback, link-local, CGNAT, multicast, unspecified, reserved, documentation and
  benchmarking ranges, and IPv4 embedded in IPv6 -- mapped, NAT64, 6to4 -- judged as the
  IPv4 address it stands for);
* hands back the checked addresses (``Target``), so that the caller connects to exactly
  those (``ecscore.outbound`` pins them in the connection) and a DNS answer that changes
  between the check and the connection cannot move the call.

It knows nothing of HTTP sessions or of which URLs need the check: that is the caller's
policy (``outbound.post(..., public_only=True)``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}

NOT_A_URL = "must be an absolute http(s) URL"
DOES_NOT_RESOLVE = "its host name does not resolve"

# RFC 3986 characters (unreserved, reserved and '%'): anything else (space, backslash, quotes,
# non-ASCII, controls) is read differently by different parsers, or is not a URL.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# scheme "://" authority, the authority ending at the first / ? or # (RFC 3986).  Without
# backslashes, urllib3 and urllib.parse both end it there too.
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)
_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
# A top-level label starts with a letter: a last label of digits (or 0x...) makes the
# resolver read the name as an IPv4 address in shorthand (inet_aton: "127.1", "0x7f.1").
_TOP_LABEL = re.compile(r"[a-z](?:[a-z0-9\-]{0,61}[a-z0-9])?")
MAX_URL_LENGTH = 2048

# IPv4 ranges that are not the public Internet (IANA special-purpose registry, RFC 6890 and
# successors).  Python's is_global/is_private miss some (CGNAT is neither, 192.0.0.0/24 and
# 192.88.99.0/24 count as global in 3.11), so the list is ours.
_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (CGNAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
    )
)
# IPv6: only global unicast (2000::/3) is public, less the special ranges inside it.  The
# ranges that embed an IPv4 address are judged by that address (``_embedded_v4``).
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NON_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class Refused(ValueError):
    """The URL may not be called; ``str(exc)`` says why, in words fit for a 400's reason."""


@dataclass(frozen=True)
class Target:
    """What a checked URL leads to: the host as the HTTP client reads it (lower case, IPv6
    without brackets), the port, and the addresses checked (empty when only parsed)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...] = ()


def parse(url: str) -> Target:
    """The URL's scheme, host and port as the HTTP client reads them; raises ``Refused``
    when the URL is not an absolute http(s) URL that every parser reads the same way."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise Refused(NOT_A_URL)
    if "\\" in url:
        raise Refused("holds a backslash, which URL parsers read differently")
    if not _URL_CHARACTERS.fullmatch(url):
        raise Refused("holds characters a URL may not hold")
    found = _ABSOLUTE.fullmatch(url)
    if found is None or found.group(1).lower() not in DEFAULT_PORTS:
        raise Refused(NOT_A_URL)
    authority = found.group(2)
    if "@" in authority:
        raise Refused("holds user information (@), which URL parsers read differently")
    if "%" in authority:
        raise Refused("has a percent-encoded host")
    try:
        parsed = parse_url(url)
    except LocationParseError as exc:
        raise Refused(NOT_A_URL) from exc
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not parsed.host or parsed.auth is not None:
        raise Refused(NOT_A_URL)
    host = _checked_host(parsed.host)
    port = parsed.port
    if port is None:
        if authority.endswith(":"):
            raise Refused("has an empty port")
        port = DEFAULT_PORTS[scheme]
    elif not 0 < port < 65536:
        raise Refused("has an invalid port")
    _same_for_urllib(url, host, parsed.port)
    return Target(scheme, host, port)


def _checked_host(host: str) -> str:
    """The host in its one spelling, or ``Refused`` for a host that has others."""
    host = host.lower()
    if host.startswith("["):
        inner = host[1:-1] if host.endswith("]") else ""
        try:
            ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise Refused("has an invalid IPv6 address") from exc
        return inner
    if host[0].isdigit() and _DOTTED_QUAD.fullmatch(host):
        return host
    if host.endswith("."):
        # "name." and "name" can resolve differently (search domains), and the HTTP client
        # drops the dot for the Host header and TLS but not for DNS.
        raise Refused("has a host name ending in a dot")
    labels = host.split(".")
    if (
        len(host) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or not _TOP_LABEL.fullmatch(labels[-1])
    ):
        raise Refused(
            "has a host that is neither a DNS name nor an IPv4 address in dotted-quad form "
            "nor a bracketed IPv6 address"
        )
    return host


def _same_for_urllib(url: str, host: str, port: int | None) -> None:
    # Defence in depth: the rules above make the two parsers agree; should a case have been
    # missed, a URL they read differently is refused rather than called.
    try:
        other = urlsplit(url)
        other_host, other_port = other.hostname, other.port
    except ValueError as exc:
        raise Refused("is read differently by different URL parsers") from exc
    if other_host != host or other_port != port:
        raise Refused("is read differently by different URL parsers")


def problem_with_address(address: IPAddress) -> str:
    """Why a connection to ``address`` would not reach the public Internet, or ''."""
    refused = f"points at a non-public address ({address})"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return refused if problem_with_address(embedded) else ""
        if address not in _GLOBAL_UNICAST or any(address in net for net in _NON_PUBLIC_V6):
            return refused
        return ""
    if any(address in net for net in _NON_PUBLIC_V4):
        return refused
    return ""


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to ``address`` reaches in the end, when it embeds one."""
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d, the socket's IPv4 itself
        return address.ipv4_mapped
    if address in _NAT64:  # a NAT64 gateway forwards to the last 32 bits
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:  # a 6to4 relay forwards to bits 16..48
        return address.sixtofour
    return None


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(DOES_NOT_RESOLVE) from exc
    found: list[IPAddress] = []
    for info in infos:
        # A zone id (fe80::1%eth0) is link-local anyway; drop it to parse the address.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(DOES_NOT_RESOLVE)
    return tuple(found)


def check(url: str) -> Target:
    """The URL's target with every address its host resolves to, all of them public;
    raises ``Refused`` otherwise.  Connect to ``Target.addresses``, not to the name."""
    target = parse(url)
    addresses = resolve(target.host, target.port)
    for address in addresses:
        problem = problem_with_address(address)
        if problem:
            raise Refused(problem)
    return Target(target.scheme, target.host, target.port, tuple(str(a) for a in addresses))


def problem_with(url: str, *, public_only: bool = True) -> str:
    """Why ``url`` may not be called, or ''.  Without ``public_only`` only its form is
    checked (it must still be one every parser reads alike), not where it leads."""
    try:
        if public_only:
            check(url)
        else:
            parse(url)
    except Refused as exc:
        return str(exc)
    return ""
