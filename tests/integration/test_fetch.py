"""fetch_to_file against the local fault-injecting origin, on loopback only.

Every client here carries a connect hook that records each TCP connect the guard lets
through and refuses (with AssertionError) anything outside 127.0.0.0/8: even a broken guard
could not dial out from these tests.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from reelflow.adapters.http.fetch import FetchResult, fetch_to_file
from reelflow.adapters.http.transport import make_client, resolve
from reelflow.core.errors import (
    BlockedURL,
    OriginRejected,
    OriginThrottled,
    OriginUnavailable,
    TooLarge,
    TransientError,
)
from reelflow.core.urlguard import FetchPolicy
from reelflow.devtools.origin import Fault, Origin

pytestmark = pytest.mark.timeout(30)

LOCAL = FetchPolicy(allow=("127.0.0.1",), connect_timeout=2.0, read_timeout=2.0)
BODY = os.urandom(300_000)
SECRET = "X-Amz-Signature=TOPSECRET123"


class Dialled:
    """The connect hook: records (host, ip, port) and refuses anything not loopback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def __call__(self, host: str, ip: str, port: int) -> None:
        if not ipaddress.ip_address(ip.split("%")[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {ip}:{port} for {host}")
        self.calls.append((host, ip, port))

    @property
    def ips(self) -> list[str]:
        return [ip for _, ip, _ in self.calls]


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as running:
        yield running
        assert running.errors == []


@pytest.fixture
def dialled() -> Dialled:
    return Dialled()


@pytest.fixture
def client(dialled: Dialled) -> Iterator[httpx.Client]:
    with make_client(LOCAL, on_connect=dialled) as made:
        yield made


def fetch(
    url: str,
    client: httpx.Client,
    *,
    max_bytes: int = 10_000_000,
    policy: FetchPolicy = LOCAL,
    dest: io.BytesIO | None = None,
    **kwargs: float,
) -> FetchResult:
    return fetch_to_file(
        url,
        dest if dest is not None else io.BytesIO(),
        max_bytes=max_bytes,
        policy=policy,
        client=client,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- success ---------------------------------------------------------------------------------


def test_streams_body_with_sha256(origin: Origin, client: httpx.Client, dialled: Dialled) -> None:
    origin.add("/ep1/preview.mp4", BODY, "video/mp4")
    url = origin.url("/ep1/preview.mp4?token=abc")
    dest = io.BytesIO()
    result = fetch(url, client, dest=dest)
    assert dest.getvalue() == BODY
    assert result == FetchResult(
        url=url,
        final_url=url,
        status=200,
        content_type="video/mp4",
        bytes=len(BODY),
        sha256=hashlib.sha256(BODY).hexdigest(),
        redirects=0,
        head=BODY[:64],
    )
    headers = origin.last_headers("/ep1/preview.mp4")
    assert headers["user-agent"] == "reelflow/0.1"
    assert headers["accept-encoding"] == "identity"
    assert headers["host"] == f"127.0.0.1:{origin.port}"
    assert dialled.ips == ["127.0.0.1"]


def test_without_a_client_one_is_made_and_closed(origin: Origin) -> None:
    origin.add("/a.jpg", b"\xff\xd8\xff" + b"x" * 100, "image/jpeg")
    dest = io.BytesIO()
    result = fetch_to_file(origin.url("/a.jpg"), dest, max_bytes=1000, policy=LOCAL)
    assert result.bytes == 103 and result.head.startswith(b"\xff\xd8\xff")
    assert dest.getvalue() == b"\xff\xd8\xff" + b"x" * 100


def test_empty_body_and_exact_limit(origin: Origin, client: httpx.Client) -> None:
    origin.add("/empty", b"", "image/png")
    origin.add("/exact", b"12345", "image/png")
    assert fetch(origin.url("/empty"), client, max_bytes=0).bytes == 0
    assert fetch(origin.url("/exact"), client, max_bytes=5).bytes == 5


def test_connections_are_reused(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", b"a" * 1000)
    for _ in range(3):
        fetch(origin.url("/a"), client)
    assert origin.requests("/a") == 3
    assert origin.connections == 1


def test_client_must_come_from_make_client_with_the_same_policy(origin: Origin) -> None:
    origin.add("/a", b"a")
    with httpx.Client() as plain, pytest.raises(ValueError):
        fetch(origin.url("/a"), plain)
    with make_client(FetchPolicy(allow=("127.0.0.0/8",))) as other, pytest.raises(ValueError):
        fetch(origin.url("/a"), other)
    assert origin.requests() == 0


# --- status codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408])
def test_server_errors_are_unavailable(origin: Origin, client: httpx.Client, code: int) -> None:
    origin.add("/a", BODY, faults=[Fault.status(code)])
    with pytest.raises(OriginUnavailable) as info:
        fetch(origin.url("/a"), client)
    assert str(code) in str(info.value)
    assert info.value.retry_after is None
    # the fault was used up: the next try succeeds
    assert fetch(origin.url("/a"), client).bytes == len(BODY)


def test_503_with_retry_after(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.status(503, headers={"Retry-After": "7"})])
    with pytest.raises(OriginUnavailable) as info:
        fetch(origin.url("/a"), client)
    assert info.value.retry_after == 7


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 451])
def test_client_errors_are_rejected(origin: Origin, client: httpx.Client, code: int) -> None:
    origin.add("/a", BODY, faults=[Fault.status(code)])
    with pytest.raises(OriginRejected) as info:
        fetch(origin.url("/a"), client)
    assert f"HTTP {code}" in str(info.value)


def test_unknown_path_is_404(origin: Origin, client: httpx.Client) -> None:
    with pytest.raises(OriginRejected, match="HTTP 404"):
        fetch(origin.url("/missing.jpg"), client)
    assert origin.log == [("GET", "/missing.jpg")]


def test_unasked_partial_content_is_rejected(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.status(206)])
    with pytest.raises(OriginRejected, match="206"):
        fetch(origin.url("/a"), client)


def test_compressed_body_is_rejected(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", b"\x1f\x8b...", headers={"Content-Encoding": "gzip"})
    with pytest.raises(OriginRejected, match="Content-Encoding"):
        fetch(origin.url("/a"), client)


# --- 429 and Retry-After -----------------------------------------------------------------------


def test_throttled_with_seconds(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.throttle("12")])
    with pytest.raises(OriginThrottled) as info:
        fetch(origin.url("/a"), client)
    assert info.value.retry_after == 12.0
    assert isinstance(info.value, TransientError)


def test_throttled_with_http_date(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.throttle(formatdate(time.time() + 30, usegmt=True))])
    with pytest.raises(OriginThrottled) as info:
        fetch(origin.url("/a"), client)
    assert info.value.retry_after is not None
    assert 25 <= info.value.retry_after <= 30


@pytest.mark.parametrize(
    ("header", "cap", "expected"),
    [("3600", 60.0, 60.0), ("3600", 5.0, 5.0), (None, 60.0, None), ("soon", 60.0, None)],
)
def test_throttled_retry_after_is_capped(
    origin: Origin, client: httpx.Client, header: str | None, cap: float, expected: float | None
) -> None:
    origin.add("/a", BODY, faults=[Fault.throttle(header)])
    with pytest.raises(OriginThrottled) as info:
        fetch(origin.url("/a"), client, retry_after_cap=cap)
    assert info.value.retry_after == expected


def test_throttled_then_served(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.throttle("1", times=2)])
    for _ in range(2):
        with pytest.raises(OriginThrottled):
            fetch(origin.url("/a"), client)
    assert fetch(origin.url("/a"), client).bytes == len(BODY)
    assert origin.requests("/a") == 3


# --- broken connections and bodies ------------------------------------------------------------


def test_reset_is_unavailable(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.reset()])
    with pytest.raises(OriginUnavailable):
        fetch(origin.url("/a"), client)
    assert fetch(origin.url("/a"), client).bytes == len(BODY)


def test_truncated_body_is_unavailable(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.truncate()])
    dest = io.BytesIO()
    with pytest.raises(OriginUnavailable) as info:
        fetch(origin.url("/a"), client, dest=dest)
    assert "peer closed connection" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert len(dest.getvalue()) <= len(BODY) // 2  # partial bytes: the caller discards them


def test_endless_body_stops_at_the_limit(origin: Origin, client: httpx.Client) -> None:
    origin.add("/live", b"frame", faults=[Fault.endless()])
    dest = io.BytesIO()
    started = time.monotonic()
    with pytest.raises(TooLarge):
        fetch(origin.url("/live"), client, max_bytes=1_000_000, dest=dest)
    assert time.monotonic() - started < 10
    assert len(dest.getvalue()) <= 1_000_000


def test_declared_length_over_limit_is_refused_before_the_body(
    origin: Origin, client: httpx.Client
) -> None:
    # The origin sends headers, then holds the body back for 5 s: reading any of it would
    # take longer than the 2 s read timeout and fail differently.
    origin.add("/big", BODY, faults=[Fault.stall(5)])
    dest = io.BytesIO()
    started = time.monotonic()
    with pytest.raises(TooLarge, match="Content-Length 300000"):
        fetch(origin.url("/big"), client, max_bytes=len(BODY) - 1, dest=dest)
    assert time.monotonic() - started < 1.5
    assert dest.getvalue() == b""


def test_read_timeout_while_stalled_is_unavailable(origin: Origin, dialled: Dialled) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), read_timeout=0.3)
    origin.add("/slow", BODY, faults=[Fault.stall(5)])
    origin.add("/late", BODY, faults=[Fault.latency(5)])
    with make_client(policy, on_connect=dialled) as slow_client:
        for path in ("/slow", "/late"):
            started = time.monotonic()
            with pytest.raises(OriginUnavailable, match="timed out"):
                fetch(origin.url(path), slow_client, policy=policy)
            assert time.monotonic() - started < 3


def test_connection_refused_is_unavailable(dialled: Dialled, client: httpx.Client) -> None:
    port = free_port()
    with pytest.raises(OriginUnavailable, match="ConnectError"):
        fetch(f"http://127.0.0.1:{port}/a.jpg", client)
    assert dialled.ips == ["127.0.0.1"]


# --- redirects -------------------------------------------------------------------------------


def test_redirects_are_followed(origin: Origin, client: httpx.Client) -> None:
    origin.add("/final.jpg", BODY, "image/jpeg")
    origin.add("/hop2", b"", faults=[Fault.redirect("/final.jpg?sig=2", status=307)])
    origin.add("/hop1", b"", faults=[Fault.redirect(origin.url("/hop2"), status=301)])
    result = fetch(origin.url("/hop1?sig=1"), client)
    assert result.redirects == 2
    assert result.final_url == origin.url("/final.jpg?sig=2")
    assert result.url == origin.url("/hop1?sig=1")
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert origin.log == [("GET", "/hop1"), ("GET", "/hop2"), ("GET", "/final.jpg")]


def test_too_many_redirects_is_rejected(origin: Origin, client: httpx.Client) -> None:
    origin.add("/loop", b"", faults=[Fault.redirect("/loop")])
    with pytest.raises(OriginRejected, match="too many redirects"):
        fetch(origin.url("/loop"), client)
    assert origin.requests("/loop") == LOCAL.max_redirects + 1


def test_no_redirects_allowed(origin: Origin, dialled: Dialled) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), max_redirects=0)
    origin.add("/final", BODY)
    origin.add("/hop", b"", faults=[Fault.redirect("/final")])
    with make_client(policy, on_connect=dialled) as strict, pytest.raises(OriginRejected):
        fetch(origin.url("/hop"), strict, policy=policy)
    assert origin.requests("/final") == 0


def test_redirect_without_location_is_rejected(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a", BODY, faults=[Fault.status(302)])
    with pytest.raises(OriginRejected, match="302"):
        fetch(origin.url("/a"), client)


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1:8080/admin",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://[fd00::1]/",
    ],
)
def test_redirect_to_an_internal_address_is_blocked_before_connecting(
    origin: Origin, client: httpx.Client, dialled: Dialled, location: str
) -> None:
    origin.add("/a.jpg", BODY, faults=[Fault.redirect(location)])
    with pytest.raises(BlockedURL):
        fetch(origin.url("/a.jpg"), client)
    # The only connection ever made was to the origin itself.
    assert dialled.ips == ["127.0.0.1"]
    assert origin.log == [("GET", "/a.jpg")]


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/", "http://u:p@127.0.0.1/"],
)
def test_redirect_to_a_bad_url_is_blocked(
    origin: Origin, client: httpx.Client, dialled: Dialled, location: str
) -> None:
    origin.add("/a.jpg", BODY, faults=[Fault.redirect(location)])
    with pytest.raises(BlockedURL):
        fetch(origin.url("/a.jpg"), client)
    assert len(dialled.calls) == 1
    assert origin.requests() == 1


@pytest.mark.parametrize(
    "location",
    [
        "http://[::1",  # httpx cannot parse it
        "\x01",  # a control character
        "http://xn--/",  # punycode that does not decode
        "http://exa mple.com/",  # a space: httpx escapes it into a host that cannot resolve
        "http://%zz/",
        "http://a..b/",
        "http://" + "a" * 64 + ".example/",  # a label over 63 characters
    ],
)
def test_an_unparseable_or_impossible_location_is_terminal(
    origin: Origin, client: httpx.Client, dialled: Dialled, location: str
) -> None:
    origin.add("/a.jpg", BODY, faults=[Fault.redirect(location)])
    with pytest.raises((OriginRejected, BlockedURL)) as info:
        fetch(origin.url("/a.jpg"), client)
    assert not isinstance(info.value, TransientError), "retrying cannot fix a bad Location"
    assert "Location" in str(info.value) or "host" in str(info.value)
    assert dialled.ips == ["127.0.0.1"] and origin.requests() == 1


def test_redirect_revalidates_against_a_hostname_allowlist(
    origin: Origin, dialled: Dialled
) -> None:
    # Only the name "localhost" is allowed: the redirect to the same server by its IP is not.
    policy = FetchPolicy(allow=("localhost",))
    origin.add("/final", BODY)
    origin.add("/hop", b"", faults=[Fault.redirect(origin.url("/final"))])
    with make_client(policy, on_connect=dialled) as named:
        result = fetch(f"http://localhost:{origin.port}/final", named, policy=policy)
        assert result.bytes == len(BODY)
        with pytest.raises(BlockedURL, match="(?i)loopback"):
            fetch(f"http://localhost:{origin.port}/hop", named, policy=policy)
    assert origin.log == [("GET", "/final"), ("GET", "/hop")]
    assert {host for host, _, _ in dialled.calls} == {"localhost"}


# --- the guard with the default policy: loopback in every spelling ------------------------------

LOOPBACK_HOSTS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "0x7f.1",
    "0x7f000001",
    "2130706433",
    "017700000001",
    "0177.0.0.1",
    "127.0.0.1.",
    "0",
    "0.0.0.0",
    "localhost",
    "LOCALHOST.",
    "sub.localhost",
    "[::1]",
    "[::]",
    "[::ffff:7f00:1]",
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_default_policy_blocks_every_loopback_spelling(origin: Origin, host: str) -> None:
    origin.add("/x", BODY)
    dialled = Dialled()
    with make_client(FetchPolicy(), on_connect=dialled) as guarded:
        with pytest.raises(BlockedURL):
            fetch(f"http://{host}:{origin.port}/x", guarded, policy=FetchPolicy())
        with pytest.raises(BlockedURL):
            fetch(f"https://{host}:{origin.port}/x", guarded, policy=FetchPolicy())
    assert dialled.calls == []
    assert origin.connections == 0
    assert origin.log == []


def test_default_policy_without_client_blocks_too(origin: Origin) -> None:
    origin.add("/x", BODY)
    with pytest.raises(BlockedURL):
        fetch_to_file(origin.url("/x"), io.BytesIO(), max_bytes=10**7, policy=FetchPolicy())
    assert origin.connections == 0


def test_backend_block_surfaces_as_blockedurl_not_connect_error(dialled: Dialled) -> None:
    with make_client(FetchPolicy(), on_connect=dialled) as guarded:
        with pytest.raises(BlockedURL) as info:
            guarded.get("http://169.254.169.254/latest/meta-data/")
        assert not isinstance(info.value, httpx.HTTPError)
        with pytest.raises(BlockedURL) as info2:
            fetch("http://10.0.0.1/a.jpg", guarded, policy=FetchPolicy())
        assert isinstance(info2.value.__cause__, BlockedURL)  # from the backend, not check_url
    assert dialled.calls == []


# --- the connect-time check with a resolver stub (no DNS leaves the machine) --------------------


def test_connects_only_to_vetted_addresses_from_one_lookup(origin: Origin) -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return {"cdn.test": ["10.0.0.1", "169.254.169.254", "127.0.0.1"]}.get(host, [])

    dialled = Dialled()
    policy = FetchPolicy(allow=("127.0.0.0/8",))
    origin.add("/a.jpg", BODY)
    with make_client(policy, resolver=resolver, on_connect=dialled) as stubbed:
        result = fetch(f"http://cdn.test:{origin.port}/a.jpg", stubbed, policy=policy)
    assert result.bytes == len(BODY)
    assert lookups == ["cdn.test"]  # one lookup: nothing to rebind between check and connect
    assert dialled.calls == [("cdn.test", "127.0.0.1", origin.port)]
    assert origin.last_headers("/a.jpg")["host"] == f"cdn.test:{origin.port}"


@pytest.mark.parametrize(
    "answers", [["169.254.169.254"], ["10.0.0.1", "192.168.0.1"], ["::1"], ["127.0.0.1"]]
)
def test_name_resolving_inside_is_blocked(origin: Origin, answers: list[str]) -> None:
    dialled = Dialled()
    policy = FetchPolicy()
    with (
        make_client(policy, resolver=lambda h, p: answers, on_connect=dialled) as stubbed,
        pytest.raises(BlockedURL),
    ):
        fetch(f"http://cdn.test:{origin.port}/a.jpg", stubbed, policy=policy)
    assert dialled.calls == []
    assert origin.connections == 0


# --- HTTPS: connect to the vetted IP, verify and send SNI for the URL's host name ---------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A throwaway CA and a leaf certificate for cdn.test only: (cert, key, CA PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reelflow test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdn.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("cdn.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cdn.test.pem", folder / "cdn.test.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_origin(certs: tuple[Path, Path, bytes]) -> Iterator[tuple[Origin, list[str | None]]]:
    cert_file, key_file, _ = certs
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with Origin(tls=context) as running:
        yield running, server_names


def test_https_verifies_and_sends_sni_for_the_url_host(
    tls_origin: tuple[Origin, list[str | None]], certs: tuple[Path, Path, bytes]
) -> None:
    origin, server_names = tls_origin
    origin.add("/a.jpg", BODY, "image/jpeg")
    trust = ssl.create_default_context(cadata=certs[2].decode())
    dialled = Dialled()
    policy = FetchPolicy(allow=("127.0.0.0/8",))

    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "cdn.test" else resolve(host, port)

    with make_client(
        policy, resolver=resolver, on_connect=dialled, ssl_context=trust
    ) as tls_client:
        result = fetch(f"https://cdn.test:{origin.port}/a.jpg?sig=1", tls_client, policy=policy)
        assert result.sha256 == hashlib.sha256(BODY).hexdigest()
        assert dialled.calls == [("cdn.test", "127.0.0.1", origin.port)]
        assert server_names == ["cdn.test"]
        assert origin.last_headers("/a.jpg")["host"] == f"cdn.test:{origin.port}"

        # The same server by IP: the certificate does not name 127.0.0.1, so no request is sent.
        with pytest.raises(OriginUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(origin.url("/a.jpg"), tls_client, policy=policy)
    assert origin.log == [("GET", "/a.jpg")]


# --- messages never carry the query string --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(404), OriginRejected),
        (Fault.status(503), OriginUnavailable),
        (Fault.throttle("1"), OriginThrottled),
        (Fault.reset(), OriginUnavailable),
        (Fault.truncate(), OriginUnavailable),
        (Fault.redirect("http://169.254.169.254/latest/?" + SECRET), BlockedURL),
        (Fault.redirect("/a.jpg?" + SECRET), OriginRejected),  # a loop
    ],
)
def test_messages_and_logs_hide_the_query_string(
    origin: Origin,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    error: type[Exception],
) -> None:
    origin.add("/a.jpg", BODY, faults=[fault])
    caplog.set_level(logging.DEBUG, logger="reelflow")
    with pytest.raises(error) as info:
        fetch(origin.url("/a.jpg?" + SECRET), client)
    assert "/a.jpg" in str(info.value) or "169.254.169.254" in str(info.value)
    assert "TOPSECRET" not in str(info.value)
    assert caplog.records, "fetch logs its requests at debug level"
    assert "TOPSECRET" not in caplog.text


def test_too_large_message_hides_the_query_string(origin: Origin, client: httpx.Client) -> None:
    origin.add("/a.jpg", BODY)
    with pytest.raises(TooLarge) as info:
        fetch(origin.url("/a.jpg?" + SECRET), client, max_bytes=10)
    assert "TOPSECRET" not in str(info.value)
    assert origin.url("/a.jpg") in str(info.value)


# --- the origin's CDN knobs ---------------------------------------------------------------------


def test_origin_latency_and_bandwidth() -> None:
    with Origin(latency_ms=150, bandwidth_bps=500_000) as slow:
        slow.add("/a", b"z" * 100_000)
        with make_client(LOCAL, on_connect=Dialled()) as local:
            started = time.monotonic()
            fetch(slow.url("/a"), local)
            elapsed = time.monotonic() - started
    assert elapsed >= 0.15 + 0.2 - 0.05  # latency + 100 kB at 500 kB/s
    assert elapsed < 5


def test_origin_max_connections_queues_requests() -> None:
    with Origin(max_connections=1) as narrow:
        narrow.add("/a", b"z" * 1000, faults=[Fault.latency(0.15)])
        failures: list[BaseException] = []

        def one() -> None:
            try:
                fetch_to_file(narrow.url("/a"), io.BytesIO(), max_bytes=10_000, policy=LOCAL)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=one) for _ in range(3)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert failures == []
        assert narrow.requests("/a") == 3
        assert narrow.connections == 3
        assert narrow.peak_in_flight == 1
        assert elapsed >= 0.4
