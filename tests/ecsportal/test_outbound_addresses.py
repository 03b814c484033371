"""The address check of outbound calls (``ecscore.addresses``) and its pinning (SSRF).

The property: whenever ``addresses.check`` accepts a URL, the addresses the HTTP client
would actually connect to -- computed here independently, with requests' own preparation
and pool-key code and the resolver -- are public, and are exactly the addresses the check
pinned.  The URLs are built from the shapes that make parsers disagree: backslashes, ``@``,
percent-encoded octets, IPv4 in decimal, octal, hex and shorthand, IPv6 forms of IPv4
addresses, trailing dots, upper case.  A fake resolver stands in for DNS (numeric hosts go
to the real one, which reads them as inet_aton does).

Then, against real servers on 127.0.0.1 and 127.0.0.2: a name that answers one address to
the check and another to the connection (DNS rebinding) cannot move a ``public_only`` call,
and HTTPS keeps the name for SNI and the certificate check while connecting to the address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from ecscore import addresses, outbound
from tests.loopback import LoopbackServer, Received, Reply

REAL_GETADDRINFO = socket.getaddrinfo

PUBLIC_V4 = ["93.184.216.34", "8.8.8.8"]
PRIVATE_V4 = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "0.0.0.0",
    "192.168.1.1",
    "172.16.5.4",
    "224.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.9",
    "192.0.2.1",
]
PUBLIC_V6 = ["2606:2800:220:1:248:1893:25c8:1946", "2001:4860:4860::8888", "2002:808:808::1"]
PRIVATE_V6 = [
    "::1",
    "::",
    "fe80::1",
    "fec0::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:100.64.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a00:1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",
]
NAMES = {
    "public.example": ["93.184.216.34"],
    "public6.example": ["2001:4860:4860::8888"],
    "dual.example": ["93.184.216.34", "2001:4860:4860::8888"],
    "loop.example": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.1"],
    "mixed6.example": ["2001:4860:4860::8888", "::1"],
    "cgnat.example": ["100.64.0.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "nat64.example": ["64:ff9b::a00:1"],
    "localhost": ["127.0.0.1", "::1"],
}


class FakeDNS:
    """``socket.getaddrinfo`` with made-up names: numeric hosts go to the real resolver (it
    reads ``0x7f.1`` and ``2130706433`` as inet_aton does), names to ``answers``, each name's
    answers handed out in turn (the last one repeated)."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.answers: dict[str, list[list[str]]] = {
            name: [list(found)] for name, found in (names or NAMES).items()
        }
        self.lookups: list[str] = []

    def set(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = [list(a) for a in answers]

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, *rest: Any):
        proto = rest[0] if rest else 0
        flags = rest[1] if len(rest) > 1 else 0
        try:
            return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            pass
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        name = str(host).lower()
        self.lookups.append(name)
        queue = self.answers.get(name)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        number = int(port or 0)
        results = []
        for text in answer:
            ip = ipaddress.ip_address(text)
            fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family not in (0, socket.AF_UNSPEC, fam):
                continue
            sockaddr = (text, number) if ip.version == 4 else (text, number, 0, 0)
            results.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        if not results:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return results


@contextlib.contextmanager
def fake_dns(dns: FakeDNS | None = None) -> Iterator[FakeDNS]:
    dns = dns or FakeDNS()
    with mock.patch.object(socket, "getaddrinfo", dns.getaddrinfo):
        yield dns


# --- the oracle: what the HTTP client would connect to, and whether that is public -----------

_ADAPTER = HTTPAdapter()
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def client_would_connect_to(url: str) -> tuple[str, list[ipaddress._BaseAddress]] | None:
    """(host, addresses) as requests + urllib3 would connect for ``url``, or None when the
    client would not connect at all."""
    try:
        prepared = requests.Request("POST", url).prepare()
        host_params, _ = _ADAPTER.build_connection_pool_key_attributes(prepared, True)
    except (requests.RequestException, ValueError):
        return None
    scheme = host_params["scheme"]
    if scheme not in ("http", "https") or not host_params["host"]:
        return None  # requests has no adapter for it
    port = host_params["port"] or {"http": 80, "https": 443}[scheme]
    host = host_params["host"]
    try:
        # urllib3's create_connection: the pool's host, brackets stripped, any family.
        infos = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return host, [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]


def really_public(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return really_public(address.ipv4_mapped)
        if address in _NAT64:
            return really_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return really_public(address.sixtofour)
        if address.teredo is not None or address.is_site_local:
            return False
    elif address in _CGNAT:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def assert_only_public_is_accepted(url: str) -> None:
    with fake_dns():
        try:
            target = addresses.check(url)
        except addresses.Refused:
            return
        found = client_would_connect_to(url)
    assert found is not None, f"accepted {url!r}, which the client would not even call"
    host, connected = found
    assert all(really_public(a) for a in connected), (url, connected)
    assert host == target.host, (url, host, target.host)
    assert sorted(map(str, connected)) == sorted(target.addresses), (url, connected, target)


# --- spellings -------------------------------------------------------------------------------


def ipv4_spellings(text: str) -> list[str]:
    """The ways a resolver (inet_aton) or a URL parser reads as this IPv4 address."""
    a, b, c, d = (int(x) for x in text.split("."))
    n = int(ipaddress.IPv4Address(text))
    return [
        text,
        str(n),
        hex(n),
        hex(n).upper().replace("0X", "0x"),
        "0" + oct(n)[2:],
        ".".join("0" + oct(x)[2:] for x in (a, b, c, d)),
        ".".join(hex(x) for x in (a, b, c, d)),
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"{a:03d}.{b:03d}.{c:03d}.{d:03d}",
        text + ".",
        "".join(f"%{ord(ch):02x}" for ch in text),
        text.replace(".", "%2e"),
        text.replace(".", "。"),  # an ideographic full stop, which IDNA reads as a dot
    ]


def ipv6_spellings(text: str) -> list[str]:
    ip = ipaddress.IPv6Address(text)
    forms = [ip.compressed, ip.exploded, ip.compressed.upper()]
    if ip.ipv4_mapped is not None:
        forms += [f"::ffff:{ip.ipv4_mapped}", f"0:0:0:0:0:ffff:{ip.ipv4_mapped}"]
    brackets = [f"[{f}]" for f in forms]
    return [*brackets, f"[{ip.compressed}%25eth0]", f"[{ip.compressed}%eth0]", ip.compressed]


def name_spellings(name: str) -> list[str]:
    return [
        name,
        name.upper(),
        name.title(),
        name + ".",
        name.replace("e", "%65", 1),
        name.replace(".", "%2e"),
        name + "%00.public.example",
    ]


HOSTS = sorted(
    {
        *[s for a in PUBLIC_V4 + PRIVATE_V4 for s in ipv4_spellings(a)],
        *[s for a in PUBLIC_V6 + PRIVATE_V6 for s in ipv6_spellings(a)],
        *[s for n in NAMES for s in name_spellings(n)],
        "unknown.example",
        "",
    }
)
SCHEMES = ["http", "https", "HTTP", "hTtPs", "ftp", "file", "gopher", "javascript", ""]
USERINFO = ["", "user@", "u:p@", "public.example@", "93.184.216.34@", "a%40b@", "@", "u@p@"]
PORTS = ["", ":80", ":8201", ":", ":0", ":65536", ":0080", ":-1", ":8o"]
JUNK = [
    "",
    "\\",
    "\\@public.example",
    "\\@93.184.216.34",
    "@public.example",
    "@93.184.216.34",
    "#@loop.example",
    "?@loop.example",
    "%2f@public.example",
    "%40public.example",
    "%5c@public.example",
    ":@public.example",
    "/\\loop.example",
    "\t",
    " ",
]
PATHS = ["", "/", "/x", "/cb@x", "/%2e%2e/x", "?q=1", "#frag", "/\\x"]
SLASHES = ["://", ":/", ":\\\\", ":///", "://\\", ":"]

urls = st.builds(
    lambda scheme, slashes, userinfo, host, port, junk, path: (
        f"{scheme}{slashes}{userinfo}{host}{port}{junk}{path}"
    ),
    st.sampled_from(SCHEMES),
    st.sampled_from(SLASHES),
    st.sampled_from(USERINFO),
    st.sampled_from(HOSTS),
    st.sampled_from(PORTS),
    st.sampled_from(JUNK),
    st.sampled_from(PATHS),
)
URL_ALPHABET = "abcdefhlmoptx0127.:/@\\%[]?#-_ffF"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(urls)
def test_an_accepted_url_leads_only_to_public_addresses(url):
    assert_only_public_is_accepted(url)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["http://", "https://", "HTTP://"]), st.text(URL_ALPHABET, max_size=40))
def test_arbitrary_text_after_the_scheme_is_never_accepted_into_our_network(prefix, rest):
    assert_only_public_is_accepted(prefix + rest)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_the_check_only_ever_refuses_never_fails(text):
    with fake_dns():
        assert isinstance(addresses.problem_with(text), str)
        assert isinstance(addresses.problem_with(text, public_only=False), str)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8201\\@8.8.8.8/x",
        "http://8.8.8.8\\@127.0.0.1:8201/x",
        "http://8.8.8.8@127.0.0.1:8201/x",
        "http://public.example@127.0.0.1/x",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://127.000.000.001/",
        "http://%31%32%37.0.0.1/",
        "http://127%2e0%2e0%2e1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[0:0:0:0:0:ffff:7f00:1]/",
        "http://[::ffff:7f00:1]:8201/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::1]/",
        "http://[fe80::1%25eth0]/",
        "http://100.64.0.1/",
        "http://100.100.100.200/latest/meta-data",
        "http://169.254.169.254/",
        "http://localhost/",
        "http://LOCALHOST:8201/",
        "http://localhost./",
        "http://public.example./",
        "http://mixed.example/",
        "http://mixed6.example/",
        "http://mapped.example/",
        "http://cgnat.example/",
        "http://nat64.example/",
        "http://unknown.example/",
        "ftp://public.example/",
        "//public.example/",
        "http:/public.example/",
        "http:///public.example/",
        "http://public.example:0/",
        "http://public.example:/",
        "http://pub lic.example/",
        "http://public.example/\x00",
        "http://pübl.example/",
    ],
)
def test_urls_that_lead_inside_or_read_ambiguously_are_refused(url):
    with fake_dns():
        assert addresses.problem_with(url), url
        reply = outbound.post(url, time.monotonic() + 1, json_body={}, public_only=True)
    assert reply.failure == outbound.REFUSED
    assert reply.reason.startswith("destination refused: ")
    assert reply.status is None


@pytest.mark.parametrize(
    ("url", "host", "port", "found"),
    [
        ("http://public.example/cb", "public.example", 80, ["93.184.216.34"]),
        ("HTTPS://PUBLIC.EXAMPLE:8443/cb@x?y=%40", "public.example", 8443, ["93.184.216.34"]),
        ("http://dual.example/", "dual.example", 80, ["93.184.216.34", "2001:4860:4860::8888"]),
        ("http://93.184.216.34:8080/x#f", "93.184.216.34", 8080, ["93.184.216.34"]),
        ("https://[2001:4860:4860::8888]/", "2001:4860:4860::8888", 443, None),
        ("http://[::ffff:8.8.8.8]/", "::ffff:8.8.8.8", 80, ["::ffff:808:808"]),
        ("http://[64:ff9b::808:808]/", "64:ff9b::808:808", 80, None),
    ],
)
def test_public_urls_are_accepted_with_every_address(url, host, port, found):
    with fake_dns():
        target = addresses.check(url)
    assert (target.host, target.port) == (host, port)
    assert list(target.addresses) == (found or [host])
    assert_only_public_is_accepted(url)


@pytest.mark.parametrize("address", PRIVATE_V4 + PRIVATE_V6)
def test_every_non_public_address_is_refused(address):
    assert addresses.problem_with_address(ipaddress.ip_address(address)) == (
        f"points at a non-public address ({ipaddress.ip_address(address)})"
    )


@pytest.mark.parametrize("address", PUBLIC_V4 + PUBLIC_V6)
def test_public_addresses_are_accepted(address):
    assert addresses.problem_with_address(ipaddress.ip_address(address)) == ""


def test_without_public_only_the_form_is_still_checked():
    assert addresses.problem_with("http://127.0.0.1:9/cb", public_only=False) == ""
    assert addresses.problem_with("http://127.0.0.1:9\\@8.8.8.8/", public_only=False)


# --- pinning, against real servers on loopback ------------------------------------------------


class Recorder:
    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self.server = LoopbackServer(self._respond, port, host)
        self.port = self.server.port

    def _respond(self, request: Received) -> Reply:
        self.received.append(request)
        return Reply(204)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def two_servers() -> Iterator[tuple[Recorder, Recorder]]:
    """A server on 127.0.0.1 and another on 127.0.0.2, on the same port."""
    first = Recorder()
    try:
        second = Recorder(first.port, "127.0.0.2")
    except OSError:
        first.close()
        pytest.skip("cannot listen on 127.0.0.2")
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def first_loopback_counts_as_public(monkeypatch):
    """Our policy, except that 127.0.0.1 passes (it stands for a public receiver here)."""
    real = addresses.problem_with_address

    def policy(address):
        return "" if str(address) == "127.0.0.1" else real(address)

    monkeypatch.setattr(addresses, "problem_with_address", policy)


def post(url: str, **kwargs: Any) -> outbound.Reply:
    return outbound.post(url, time.monotonic() + 5, json_body={"n": 1}, **kwargs)


def test_a_rebinding_name_cannot_move_a_checked_call(two_servers, first_loopback_counts_as_public):
    checked, inside = two_servers
    dns = FakeDNS()
    # The check gets 127.0.0.1; any later lookup 127.0.0.2 (our "own network").
    dns.set("rebind.example", ["127.0.0.1"], ["127.0.0.2"])
    url = f"http://rebind.example:{checked.port}/cb"
    with fake_dns(dns):
        reply = post(url, public_only=True)
    assert (reply.status, reply.failure) == (204, "")
    assert [r.path for r in checked.received] == ["/cb"]
    assert checked.received[0].headers["Host"] == f"rebind.example:{checked.port}"
    assert inside.received == []
    assert dns.lookups == ["rebind.example"]  # resolved once, by the check

    # Now the name answers 127.0.0.2 to the check as well: refused, nothing sent, although
    # a kept-alive connection to the address checked before is in the pool.
    with fake_dns(dns):
        again = post(url, public_only=True)
    assert again.failure == outbound.REFUSED
    assert again.reason == "destination refused: points at a non-public address (127.0.0.2)"
    assert len(checked.received) == 1
    assert inside.received == []


def test_without_pinning_the_same_name_would_have_moved_the_call(two_servers):
    """The hole the pinning closes: check, then let the client resolve again."""
    checked, inside = two_servers
    dns = FakeDNS()
    dns.set("rebind.example", ["127.0.0.1"], ["127.0.0.2"])
    url = f"http://rebind.example:{checked.port}/cb"
    with fake_dns(dns):
        assert addresses.resolve("rebind.example", checked.port) == (
            ipaddress.ip_address("127.0.0.1"),
        )
        reply = post(url)  # operator-configured: no check, the client resolves
    assert reply.status == 204
    assert checked.received == []
    assert len(inside.received) == 1


def test_a_public_only_call_to_loopback_sends_nothing(two_servers):
    checked, _ = two_servers
    for url in (
        f"http://127.0.0.1:{checked.port}/cb",
        f"http://127.0.0.1:{checked.port}\\@8.8.8.8/x",
        f"http://[::ffff:127.0.0.1]:{checked.port}/cb",
        f"http://2130706433:{checked.port}/cb",
    ):
        reply = post(url, public_only=True)
        assert reply.failure == outbound.REFUSED, url
    assert checked.received == []


def test_the_pinning_session_never_sends_a_request_it_was_not_given_a_target_for(two_servers):
    checked, _ = two_servers
    with pytest.raises(requests.exceptions.InvalidURL):
        outbound.PUBLIC_SESSION.post(f"http://127.0.0.1:{checked.port}/cb", timeout=2)
    assert checked.received == []


def test_the_adapter_refuses_a_prepared_url_that_is_not_the_one_checked(two_servers):
    checked, inside = two_servers
    target = addresses.Target("http", "public.example", checked.port, ("127.0.0.1",))
    with mock.patch.object(addresses, "check", return_value=target):
        reply = post(f"http://127.0.0.2:{checked.port}/cb", public_only=True)
    assert reply.failure == outbound.UNREACHABLE
    assert checked.received == inside.received == []


@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=receiver.example",
            "-addext",
            "subjectAltName=DNS:receiver.example",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_https_keeps_the_name_for_sni_and_the_certificate(
    tls_files, monkeypatch, first_loopback_counts_as_public
):
    key, cert = tls_files
    server = Recorder()
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server.server.server.socket = context.wrap_socket(server.server.server.socket, server_side=True)
    monkeypatch.setattr(outbound.PUBLIC_SESSION, "verify", str(cert))
    dns = FakeDNS({"receiver.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    try:
        with fake_dns(dns):
            reply = post(f"https://receiver.example:{server.port}/cb", public_only=True)
            assert (reply.status, reply.failure) == (204, "")
            assert names == ["receiver.example"]
            assert server.received[0].headers["Host"] == f"receiver.example:{server.port}"
            # The certificate is still checked against the name in the URL.
            wrong = post(f"https://other.example:{server.port}/cb", public_only=True)
            assert wrong.failure == outbound.UNREACHABLE
            assert wrong.exception == "SSLError"
            assert len(server.received) == 1
    finally:
        server.close()
