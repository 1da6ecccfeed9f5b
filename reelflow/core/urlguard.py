"""Which URLs and addresses reelflow may fetch from: the SSRF policy, with no I/O.

Two gates, both needed:

* `check_url` looks at the URL text: http/https only, a host, no credentials, a valid port.
* `check_address` looks at one *resolved* address: it must be globally reachable unicast by
  the IANA special-purpose registries (reelflow.core.special_addresses, with every embedded
  IPv4 address unwrapped and checked first), or be allowed by the policy's allowlist. The
  fetcher calls it for every address a host resolves to, at connect time, and connects only
  to an address that passed (see `reelflow.adapters.http.transport`). Checking the address
  rather than the host text is what catches `127.1`, `0x7f.1`, `2130706433`,
  `[::ffff:7f00:1]`, `localhost.` and DNS names that point inside.

`static_addresses` gives the addresses of hosts that need no DNS (IP literals in every
spelling `inet_aton` accepts, and the `localhost` names of RFC 6761), so they never reach a
resolver. `redact` (reelflow.core.redaction, re-exported here) strips a URL to
scheme://host[:port]/path for messages and logs: temporary CDN URLs carry their tokens in
the query string.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias
from urllib.parse import urlsplit

from reelflow.core import special_addresses
from reelflow.core.errors import BlockedURL
from reelflow.core.redaction import redact

__all__ = [
    "FetchPolicy",
    "FetchSettings",
    "IPAddress",
    "ParsedTarget",
    "check_address",
    "check_url",
    "redact",
    "static_addresses",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = {"http": 80, "https": 443}

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


class FetchSettings(Protocol):
    """The part of `reelflow.settings.Settings` a `FetchPolicy` is built from."""

    @property
    def fetch_allow(self) -> Sequence[str]: ...

    @property
    def fetch_connect_timeout(self) -> float: ...

    @property
    def fetch_read_timeout(self) -> float: ...

    @property
    def fetch_max_redirects(self) -> int: ...


@dataclass(frozen=True)
class FetchPolicy:
    """What the fetcher may reach, and how long it waits.

    `allow` entries are either host names (matched exactly, case-insensitively, against the
    URL's host; a trailing dot is ignored) or IP addresses / CIDR networks (matched against
    the resolved address). An allowed entry lifts the address check entirely, so allowing
    `127.0.0.1` lets `localhost` through too, when it resolves there.
    """

    allow: tuple[str, ...] = ()
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_redirects: int = 3
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[_Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.allow, str):
            raise TypeError("FetchPolicy.allow must be a tuple of strings, not one string")
        object.__setattr__(self, "allow", tuple(self.allow))
        if not self.connect_timeout > 0 or not self.read_timeout > 0:
            raise ValueError("FetchPolicy timeouts must be positive")
        if self.max_redirects < 0:
            raise ValueError("FetchPolicy.max_redirects must be >= 0")
        hosts: set[str] = set()
        networks: list[_Network] = []
        for raw in self.allow:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                if "/" in entry or ":" in entry:
                    raise ValueError(
                        f"fetch allowlist entry {entry!r} is not a valid address or network"
                    ) from None
            hosts.add(_normalise_host(entry))
        object.__setattr__(self, "_hosts", frozenset(hosts))
        object.__setattr__(self, "_networks", tuple(networks))

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> FetchPolicy:
        """The policy the settings describe (REELFLOW_FETCH_ALLOW, ..._TIMEOUT, ...)."""
        return cls(
            allow=tuple(settings.fetch_allow),
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            max_redirects=settings.fetch_max_redirects,
        )

    def allows_host(self, host: str) -> bool:
        """True when `host` is on the allowlist by name."""
        return _normalise_host(host) in self._hosts

    def allows_address(self, ip: IPAddress) -> bool:
        """True when `ip` falls in an allowlisted address or network."""
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(
            c in net for c in candidates for net in self._networks if c.version == net.version
        )


@dataclass(frozen=True)
class ParsedTarget:
    """The parts of a URL that decide where a request goes."""

    scheme: str  # "http" or "https"
    host: str  # lowercased, IDNA (punycode) encoded, no brackets, no trailing dot
    port: int  # explicit or the scheme's default


def check_url(url: str) -> ParsedTarget:
    """Parse and vet a URL's text. Raises `BlockedURL` with the reason.

    This is the cheap first gate; the address check at connect time is the one that counts.
    """
    if not isinstance(url, str) or not url:
        raise BlockedURL("empty URL")
    shown = redact(url)
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise BlockedURL(f"{shown}: URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise BlockedURL(f"{shown}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise BlockedURL(f"{shown}: scheme {scheme or '(none)'!r} not allowed; use http or https")
    netloc = parts.netloc
    if "@" in netloc:
        raise BlockedURL(f"{shown}: credentials (user:password@) in URLs are not allowed")
    if "\\" in netloc:
        raise BlockedURL(f"{shown}: backslash in the host part")
    try:
        raw_host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise BlockedURL(f"{shown}: bad host or port ({exc})") from None
    if not raw_host:
        raise BlockedURL(f"{shown}: URL has no host")
    if port is None:
        if netloc.endswith(":"):
            raise BlockedURL(f"{shown}: empty port")
        port = _SCHEMES[scheme]
    if not 1 <= port <= 65535:
        raise BlockedURL(f"{shown}: port {port} out of range")
    if "[" in netloc:
        try:
            ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise BlockedURL(f"{shown}: {raw_host!r} is not an IPv6 address") from None
        host = raw_host
    else:
        try:
            host = _normalise_host(raw_host)
        except ValueError as exc:
            raise BlockedURL(f"{shown}: invalid host name ({exc})") from None
        if not host:
            raise BlockedURL(f"{shown}: URL has no host")
        try:
            if _ipv4_literal(host) is None:
                _check_host_name(host)
        except ValueError as exc:
            raise BlockedURL(f"{shown}: {exc}") from None
    return ParsedTarget(scheme=scheme, host=host, port=port)


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _check_host_name(host: str) -> None:
    """A host that is not an IP literal must be a DNS name: at most 253 characters, labels of
    1-63 letters, digits, '-' or '_' (not starting or ending with '-'), punycode that decodes.
    Anything else could never resolve: refusing it here makes it terminal, not a retry."""
    if len(host) > 253:
        raise ValueError(f"invalid host name: longer than 253 characters ({len(host)})")
    for label in host.split("."):
        if not _LABEL.fullmatch(label):
            raise ValueError(f"invalid host name {host!r}: {label!r} is not a DNS label")
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise ValueError(f"invalid host name {host!r}: {label!r} is not punycode") from None


def check_address(ip: str, host: str, policy: FetchPolicy) -> None:
    """Allow `ip` (an address `host` resolved to) or raise `BlockedURL` saying why not.

    Allowed: a globally routable unicast address, or anything the allowlist names (by
    `host`, or by a network containing `ip`).
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0].strip("[]"))
    except ValueError:
        raise BlockedURL(f"{host}: {ip!r} is not an IP address") from None
    if policy.allows_host(host) or policy.allows_address(address):
        return
    reason = _blocked_reason(address)
    if reason is not None:
        where = str(address) if _normalise_host(host) == str(address) else f"{host} ({address})"
        raise BlockedURL(
            f"{where}: {reason} address, not allowed to be fetched "
            "(add the host or network to REELFLOW_FETCH_ALLOW if it is meant to be reachable)"
        )


def static_addresses(host: str) -> list[str] | None:
    """The addresses of `host` when they are known without DNS, else None.

    IP literals in any spelling (`127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`, `::1`,
    `[::ffff:7f00:1]`, a trailing dot) give their one address; `localhost` and `*.localhost`
    (RFC 6761) give the loopback addresses. Raises `BlockedURL` for host text that looks
    numeric but is not a valid address (`1.2.3.4.5`, `0x.1.999`).
    """
    text = host.strip().strip("[]")
    if ":" in text:
        try:
            return [str(ipaddress.IPv6Address(text))]
        except ValueError:
            raise BlockedURL(f"{host!r} is not a valid IPv6 address") from None
    name = text.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1", "::1"]
    try:
        v4 = _ipv4_literal(name)
    except ValueError as exc:
        raise BlockedURL(str(exc)) from None
    return None if v4 is None else [str(v4)]


# --- internals ---------------------------------------------------------------------------


def _normalise_host(host: str) -> str:
    """Lowercase, IDNA-encode, drop one trailing dot."""
    name = host.strip().strip("[]")
    if name.endswith("."):
        name = name[:-1]
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return name.lower()


_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_DEC = frozenset("0123456789")


def _looks_numeric(part: str) -> bool:
    """Whether a dotted part reads as a number to a URL parser (digits, or 0x and hex)."""
    if part[:2] in ("0x", "0X"):
        return set(part[2:]) <= _HEX
    return part != "" and set(part) <= _DEC


def _parse_ipv4_part(part: str) -> int | None:
    """One dotted part the way inet_aton (and the WHATWG URL standard) reads it."""
    if part[:2] in ("0x", "0X"):
        digits, base, allowed = part[2:], 16, _HEX
        if digits == "":
            return 0
    elif len(part) > 1 and part[0] == "0":
        digits, base, allowed = part[1:], 8, _OCT
    else:
        digits, base, allowed = part, 10, _DEC
    if not digits or not set(digits) <= allowed:
        return None
    return int(digits, base)


def _ipv4_literal(name: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address `name` spells (dotted, short, hex, octal or one integer), or None.

    None means `name` is a host name. ValueError means it ends in a number yet is no
    address: such names are never valid DNS names and resolvers disagree about them.
    """
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _looks_numeric(parts[-1]):
        return None
    values = [_parse_ipv4_part(p) for p in parts]
    numbers = [v for v in values if v is not None]
    if len(parts) > 4 or len(numbers) != len(values):
        raise ValueError(f"host {name!r} looks numeric but is not a valid IPv4 address")
    *head, last = numbers
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"host {name!r} is an out-of-range IPv4 address")
    value = last
    for index, v in enumerate(head):
        value += v << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _embedded(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, with the embedding's name."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip in _NAT64_WELL_KNOWN:
        found.append(("NAT64-embedded", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip.sixtofour is not None:
        found.append(("6to4-embedded", ip.sixtofour))
    if ip.teredo is not None:  # (server, client); the client's bits arrive un-obfuscated
        server, client = ip.teredo
        found += [("Teredo-embedded", server), ("Teredo-embedded", client)]
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    interface_id = int(ip) & 0xFFFFFFFFFFFFFFFF
    if (interface_id >> 32) & 0xFCFFFFFF == 0x00005EFE:  # ISATAP, u/g bits either way
        found.append(("ISATAP-embedded", ipaddress.IPv4Address(interface_id & 0xFFFFFFFF)))
    return found


# Prefixes that only carry an IPv4 address: the embedded address is where a connection goes,
# so it decides. Any other IPv6 address must pass the embedded checks *and* its own row.
_WRAPPERS = ("IPv4-mapped", "NAT64-embedded", "6to4-embedded")


def _blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be fetched from, or None when it is globally reachable unicast
    (reelflow.core.special_addresses, from the IANA special-purpose registries)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded(ip)
        for how, inner in embedded:
            reason = _blocked_reason(inner)
            if reason is not None:
                return f"{how} {inner}: {reason}"
        if embedded and embedded[0][0] in _WRAPPERS:
            return None
    row = special_addresses.classify(ip)
    if row is not None and row.denied:
        return row.describe()
    return None
