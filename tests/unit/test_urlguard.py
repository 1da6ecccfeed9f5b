"""The SSRF policy, as tables: URL text, resolved addresses (every row of the IANA special-purpose
registries, every IPv4 embedding), the allowlist, redaction."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from reelflow.core.errors import BlockedURL
from reelflow.core.special_addresses import (
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    NOT_UNICAST,
    SpecialRange,
    classify,
)
from reelflow.core.urlguard import (
    FetchPolicy,
    ParsedTarget,
    check_address,
    check_url,
    redact,
    static_addresses,
)
from reelflow.settings import Settings

DEFAULT = FetchPolicy()


# --- check_url: the URL text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://cdn.example.com/a.jpg", ParsedTarget("http", "cdn.example.com", 80)),
        ("https://cdn.example.com/a.jpg", ParsedTarget("https", "cdn.example.com", 443)),
        ("HTTPS://CDN.Example.COM:8443/a?x=1", ParsedTarget("https", "cdn.example.com", 8443)),
        ("http://cdn.example.com./a", ParsedTarget("http", "cdn.example.com", 80)),
        ("https://bücher.example/x", ParsedTarget("https", "xn--bcher-kva.example", 443)),
        ("http://[2606:4700::1111]:81/", ParsedTarget("http", "2606:4700::1111", 81)),
        ("http://93.184.216.34:65535/", ParsedTarget("http", "93.184.216.34", 65535)),
        ("http://h.example:1/", ParsedTarget("http", "h.example", 1)),
    ],
)
def test_check_url_accepts(url: str, expected: ParsedTarget) -> None:
    assert check_url(url) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://cdn.example.com/a.jpg", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://cdn.example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("data:text/plain,hi", "scheme"),
        ("cdn.example.com/a.jpg", "scheme"),
        ("//cdn.example.com/a.jpg", "scheme"),
        ("", "empty"),
        ("http://", "no host"),
        ("http:///a.jpg", "no host"),
        ("http://:8080/a.jpg", "no host"),
        ("http://user@cdn.example.com/", "credentials"),
        ("http://user:pass@cdn.example.com/", "credentials"),
        ("https://:@cdn.example.com/", "credentials"),
        ("http://cdn.example.com@127.0.0.1/", "credentials"),
        ("http://evil.example\\@127.0.0.1/", "credentials"),
        ("http://cdn.example.com:0/", "port"),
        ("http://cdn.example.com:65536/", "port"),
        ("http://cdn.example.com:99999999/", "port"),
        ("http://cdn.example.com:http/", "port"),
        ("http://cdn.example.com:/", "port"),
        ("http://cdn.example.com/a b.jpg", "whitespace"),
        ("http://cdn.example.com/\x00", "control"),
        ("http://cdn.exa\tmple.com/", "whitespace"),
        ("http://[::1/", "valid"),
        ("http://[not-an-ip]/", "valid"),
        ("http://1.2.3.4.5/", "numeric"),
        ("http://foo.123/", "numeric"),
        ("http://256.256.256.256/", "range"),
        ("http://0x100000000/", "range"),
    ],
)
def test_check_url_rejects(url: str, why: str) -> None:
    with pytest.raises(BlockedURL) as info:
        check_url(url)
    assert why in str(info.value).lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/",
        "http://%zz/",
        "http://-cdn.example.com/",
        "http://cdn-.example.com/",
        "http://xn--/",
        "http://" + "a" * 64 + ".example/",
        "http://" + ".".join(["a" * 63] * 4) + ".example/",  # over 253 characters
        "http://cdn!.example.com/",
    ],
)
def test_check_url_refuses_host_names_that_cannot_resolve(url: str) -> None:
    with pytest.raises(BlockedURL, match="host"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://_dmarc.example.com/",
        "http://xn--bcher-kva.example/",
        "http://bücher.example/",
        "http://a-b.c-d.example/",
        "http://" + "a" * 63 + ".example/",
    ],
)
def test_check_url_accepts_real_host_names(url: str) -> None:
    assert check_url(url).scheme == "http"


def test_check_url_message_hides_query_and_password() -> None:
    with pytest.raises(BlockedURL) as info:
        check_url("ftp://user:hunter2@cdn.example.com/a.jpg?X-Amz-Signature=SECRET")
    message = str(info.value)
    assert "SECRET" not in message and "hunter2" not in message
    assert "ftp://cdn.example.com/a.jpg" in message


# --- loopback in every spelling: blocked without any DNS ------------------------------------

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0x7f.1/",
    "http://0X7F.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.000.000.001/",
    "http://127.0.0.1./",
    "http://127.255.255.254/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://LocalHost:8080/",
    "http://anything.localhost/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_blocked(url: str) -> None:
    target = check_url(url)  # the text is fine: the address is what is refused
    addresses = static_addresses(target.host)
    assert addresses, f"{url} should be answered without DNS"
    for ip in addresses:
        with pytest.raises(BlockedURL) as info:
            check_address(ip, target.host, DEFAULT)
        text = str(info.value).lower()
        assert any(
            word in text for word in ("loopback", "unspecified", "this host", "ipv4-compatible")
        )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", ["127.0.0.1"]),
        ("0x7f.1", ["127.0.0.1"]),
        ("2130706433", ["127.0.0.1"]),
        ("0177.0.0.1", ["127.0.0.1"]),
        ("10.1", ["10.0.0.1"]),
        ("192.168.257", ["192.168.1.1"]),
        ("0xa9fea9fe", ["169.254.169.254"]),
        ("8.8.8.8.", ["8.8.8.8"]),
        ("[::ffff:7f00:1]", ["::ffff:7f00:1"]),
        ("localhost", ["127.0.0.1", "::1"]),
        ("Foo.LocalHost.", ["127.0.0.1", "::1"]),
        ("cdn.example.com", None),
        ("1x.example", None),
        ("0x7g.example", None),
        ("localhost.example.com", None),
    ],
)
def test_static_addresses(host: str, expected: list[str] | None) -> None:
    assert static_addresses(host) == expected


@pytest.mark.parametrize("host", ["1.2.3.4.5", "a.1", "08.1", "1..1", "0x1g.1"])
def test_static_addresses_refuses_numeric_garbage(host: str) -> None:
    with pytest.raises(BlockedURL):
        static_addresses(host)


# --- check_address: what a host resolves to -------------------------------------------------

BLOCKED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.0.0.1", "private-use"),
    ("10.255.255.255", "private-use"),
    ("172.16.0.1", "private-use"),
    ("172.31.255.255", "private-use"),
    ("192.168.1.1", "private-use"),
    ("169.254.169.254", "link local"),
    ("169.254.0.1", "link local"),
    ("100.64.0.1", "shared address space"),
    ("100.127.255.255", "shared address space"),
    ("0.0.0.0", "this host on this network"),
    ("0.1.2.3", "this network"),
    ("255.255.255.255", "limited broadcast"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.0.192", "ietf protocol assignments"),  # Oracle Cloud's instance metadata
    ("192.0.0.1", "service continuity"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("5f00::1", "segment routing"),
    ("100::1", "discard-only"),
    ("4000::1", "reserved by ietf"),
    ("::ffff:127.0.0.1", "ipv4-mapped 127.0.0.1: loopback"),
    ("::ffff:10.0.0.1", "ipv4-mapped 10.0.0.1: private-use"),
    ("::ffff:169.254.169.254", "ipv4-mapped 169.254.169.254: link local"),
    ("::ffff:0.0.0.0", 'ipv4-mapped 0.0.0.0: "this host'),
    ("::127.0.0.1", "ipv4-compatible 127.0.0.1: loopback"),
    ("::10.0.0.1", "ipv4-compatible 10.0.0.1: private-use"),
    ("::8.8.8.8", "ipv4-compatible (deprecated)"),
    ("2002:7f00:1::1", "6to4-embedded 127.0.0.1: loopback"),
    ("2002:a9fe:a9fe::", "6to4-embedded 169.254.169.254: link local"),
    ("2002:c0a8:101::1", "6to4-embedded 192.168.1.1: private-use"),
    ("2002:c000:c0::", "6to4-embedded 192.0.0.192: ietf protocol assignments"),
    ("64:ff9b::7f00:1", "nat64-embedded 127.0.0.1: loopback"),
    ("64:ff9b::a9fe:a9fe", "nat64-embedded 169.254.169.254: link local"),
    ("64:ff9b::c000:c0", "nat64-embedded 192.0.0.192"),
    ("64:ff9b:1::a00:1", "translat. (local use)"),
    ("64:ff9b:1::808:808", "translat. (local use)"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo-embedded 127.0.0.1: loopback"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "teredo"),  # client 8.8.8.8: Teredo is N/A
    ("2a00:1450:4001::5efe:a00:1", "isatap-embedded 10.0.0.1: private-use"),
    ("2a00:1450:4001::200:5efe:c0a8:101", "isatap-embedded 192.168.1.1"),
    ("fe80::5efe:808:808", "link-local"),
]


@pytest.mark.parametrize(("ip", "reason"), BLOCKED_ADDRESSES)
def test_blocked_addresses(ip: str, reason: str) -> None:
    with pytest.raises(BlockedURL) as info:
        check_address(ip, "cdn.example.com", DEFAULT)
    assert reason in str(info.value).lower()
    assert "cdn.example.com" in str(info.value)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.255.255",
        "223.255.255.254",
        "192.0.3.1",
        "192.88.98.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001:81b::200e",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
        "2a00:1450:4001::200:5efe:808:808",  # ISATAP carrying a global address
    ],
)
def test_public_addresses_pass(ip: str) -> None:
    check_address(ip, "cdn.example.com", DEFAULT)  # no exception


def _inside(row: SpecialRange) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address that `row` itself classifies (not a more specific row inside it)."""
    net = row.network
    size = net.num_addresses
    offsets = [*range(min(size, 64)), size - 1, size // 2, size // 3]
    for offset in offsets:
        ip = net[offset]
        if classify(ip) == row:
            return ip
    raise AssertionError(f"no address of {net} classifies as {row.name}")


@pytest.mark.parametrize(
    "row", [*IPV4_SPECIAL, *IPV6_SPECIAL, *NOT_UNICAST], ids=lambda row: str(row.network)
)
def test_every_registry_row_decides_its_addresses(row: SpecialRange) -> None:
    """Each row of the IANA registries (and the non-unicast ranges): its addresses are denied
    unless the registry says globally reachable. Embedded IPv4 addresses are judged on their
    own (the embedding tables below), so this checks the row's own verdict."""
    ip = _inside(row)
    assert classify(ip) == row
    assert row.denied is (row.globally_reachable is not True)
    if row.denied:
        with pytest.raises(BlockedURL) as info:
            check_address(str(ip), "cdn.example.com", DEFAULT)
        text = str(info.value)
        embeddings = ("IPv4-mapped", "IPv4-compatible", "Teredo")
        assert row.name in text or any(how in text for how in embeddings)
    elif not _carries_ipv4(ip):
        check_address(str(ip), "cdn.example.com", DEFAULT)  # globally reachable: allowed


def _carries_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("64:ff9b::/96")


PRIVATE, PUBLIC = "10.1.2.3", "8.8.8.8"


def _teredo(client: str) -> str:
    """A Teredo address with a public server (65.54.227.120) and `client`, obfuscated."""
    obfuscated = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(
        ipaddress.IPv6Address(
            (0x20010000 << 96)
            | (int(ipaddress.IPv4Address("65.54.227.120")) << 64)
            | (0x8000 << 48)
            | (0x63BF << 32)
            | obfuscated
        )
    )


# (embedding, address with a private IPv4 inside, with a public one, is the public one allowed)
EMBEDDINGS = [
    ("IPv4-mapped", f"::ffff:{PRIVATE}", f"::ffff:{PUBLIC}", True),
    ("IPv4-compatible", f"::{PRIVATE}", f"::{PUBLIC}", False),
    ("6to4-embedded", "2002:a01:203::1", "2002:808:808::1", True),
    ("NAT64-embedded", f"64:ff9b::{PRIVATE}", f"64:ff9b::{PUBLIC}", True),
    ("translat. (local use)", "64:ff9b:1::a01:203", "64:ff9b:1::808:808", False),
    ("Teredo-embedded", _teredo(PRIVATE), _teredo(PUBLIC), False),
    ("ISATAP-embedded", "2a00:1450::5efe:a01:203", "2a00:1450::5efe:808:808", True),
    ("ISATAP-embedded", "2a00:1450::200:5efe:a01:203", "2a00:1450::200:5efe:808:808", True),
]


@pytest.mark.parametrize(("how", "private", "public", "allowed"), EMBEDDINGS)
def test_every_embedding_is_unwrapped_before_checking(
    how: str, private: str, public: str, allowed: bool
) -> None:
    with pytest.raises(BlockedURL) as info:
        check_address(private, "cdn.example.com", DEFAULT)
    assert how.lower() in str(info.value).lower()
    if allowed:
        check_address(public, "cdn.example.com", DEFAULT)
    else:
        with pytest.raises(BlockedURL):
            check_address(public, "cdn.example.com", DEFAULT)


ORACLE_METADATA_SPELLINGS = [
    "http://192.0.0.192/opc/v2/instance/",
    "http://3221225664/opc/v2/instance/",  # decimal
    "http://0300.0.0.0300/",  # octal
    "http://0xc00000c0/",  # hex
    "http://0xc0.0.0.0xc0/",
    "http://[::ffff:192.0.0.192]/",
    "http://[::ffff:c000:c0]/",
    "http://[2002:c000:c0::]/",  # 6to4
    "http://[64:ff9b::c000:c0]/",  # NAT64
]


@pytest.mark.parametrize("url", ORACLE_METADATA_SPELLINGS)
def test_oracle_cloud_metadata_is_blocked_in_every_spelling(url: str) -> None:
    target = check_url(url)
    addresses = static_addresses(target.host)
    assert addresses
    for ip in addresses:
        with pytest.raises(BlockedURL) as info:
            check_address(ip, target.host, DEFAULT)
        assert "192.0.0.0/24" in str(info.value)


@pytest.mark.parametrize("ip", ["", "not-an-ip", "999.1.1.1", "1.2.3"])
def test_check_address_refuses_non_addresses(ip: str) -> None:
    with pytest.raises(BlockedURL):
        check_address(ip, "cdn.example.com", DEFAULT)


# --- the allowlist ---------------------------------------------------------------------------

ALLOW_CASES = [
    # (allow, host, ip, allowed)
    (("cdn.internal",), "cdn.internal", "10.0.0.5", True),
    (("CDN.Internal",), "cdn.internal.", "10.0.0.5", True),
    (("cdn.internal.",), "CDN.INTERNAL", "169.254.169.254", True),
    (("cdn.internal",), "a.cdn.internal", "10.0.0.5", False),
    (("cdn.internal",), "cdn.internal.evil.example", "10.0.0.5", False),
    (("cdn.internal",), "other.internal", "10.0.0.5", False),
    (("10.0.0.0/8",), "anything.example", "10.1.2.3", True),
    (("10.0.0.0/8",), "anything.example", "192.168.1.1", False),
    (("10.0.0.0/8",), "anything.example", "::ffff:10.1.2.3", True),
    (("10.0.0.1/8",), "anything.example", "10.200.0.1", True),  # host bits are forgiven
    (("127.0.0.1",), "localhost", "127.0.0.1", True),
    (("127.0.0.1",), "localhost", "::1", False),
    (("127.0.0.1",), "localhost", "127.0.0.2", False),
    (("::1",), "localhost", "::1", True),
    (("[::1]",), "localhost", "::1", True),
    (("fd00::/8",), "x.example", "fd12::1", True),
    (("fd00::/8",), "x.example", "fe80::1", False),
    (("fd00::/8", "192.168.0.0/16"), "x.example", "192.168.7.7", True),
    (("10.0.0.1",), "10.0.0.1", "10.0.0.1", True),
    ((), "cdn.internal", "10.0.0.5", False),
    ((" cdn.internal ", ""), "cdn.internal", "10.0.0.5", True),
]


@pytest.mark.parametrize(("allow", "host", "ip", "allowed"), ALLOW_CASES)
def test_allowlist(allow: tuple[str, ...], host: str, ip: str, allowed: bool) -> None:
    policy = FetchPolicy(allow=allow)
    if allowed:
        check_address(ip, host, policy)
    else:
        with pytest.raises(BlockedURL):
            check_address(ip, host, policy)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.2.3/8", "cdn.internal:8080", "fe80::zz"])
def test_policy_refuses_bad_allow_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        FetchPolicy(allow=(entry,))


def test_policy_validates_its_fields() -> None:
    with pytest.raises(TypeError):
        FetchPolicy(allow="10.0.0.0/8")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FetchPolicy(connect_timeout=0)
    with pytest.raises(ValueError):
        FetchPolicy(read_timeout=-1)
    with pytest.raises(ValueError):
        FetchPolicy(max_redirects=-1)
    assert FetchPolicy(allow=("a",)) == FetchPolicy(allow=("a",))
    assert FetchPolicy(allow=("a",)) != FetchPolicy(allow=("b",))


def test_policy_from_settings() -> None:
    values: dict[str, Any] = {
        "_env_file": None,
        "REELFLOW_FETCH_ALLOW": "cdn.internal, 10.0.0.0/8",  # as the environment gives it
        "REELFLOW_FETCH_CONNECT_TIMEOUT": 2.5,
        "REELFLOW_FETCH_READ_TIMEOUT": 9,
        "REELFLOW_FETCH_MAX_REDIRECTS": 1,
    }
    settings = Settings(**values)
    policy = FetchPolicy.from_settings(settings)
    assert policy == FetchPolicy(
        allow=("cdn.internal", "10.0.0.0/8"),
        connect_timeout=2.5,
        read_timeout=9.0,
        max_redirects=1,
    )
    check_address("10.9.9.9", "x.example", policy)
    check_address("192.168.0.1", "cdn.internal", policy)
    with pytest.raises(BlockedURL):
        check_address("192.168.0.1", "x.example", policy)


# --- redact ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://cdn.example.com/ep/1.jpg?X-Amz-Credential=AKIA&X-Amz-Signature=abc",
            "https://cdn.example.com/ep/1.jpg",
        ),
        (
            "https://user:pw@cdn.example.com:8443/a.mp4?token=t#frag",
            "https://cdn.example.com:8443/a.mp4",
        ),
        ("HTTP://CDN.EXAMPLE.COM/A.JPG", "http://cdn.example.com/A.JPG"),
        ("http://[::1]:8080/x?y", "http://[::1]:8080/x"),
        ("http://cdn.example.com", "http://cdn.example.com"),
        ("http://u:p@cdn.example.com:99999/a?tok=1", "http://cdn.example.com:99999/a"),
        ("http://u:p@[broken/a?tok=1#f", "http://[broken/a"),
        ("//cdn.example.com/a?tok=1", "//cdn.example.com/a"),
        ("", "<empty URL>"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
