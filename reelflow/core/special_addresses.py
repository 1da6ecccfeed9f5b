"""The IANA special-purpose address registries, as data: what the SSRF guard denies.

Sources (each row carries its registry's "Globally Reachable" flag; None stands for "N/A"):
- IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry/
- IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry/
plus the non-unicast and deprecated ranges those registries leave to others (multicast,
RFC 5771 / RFC 4291; site-local, RFC 3879; IPv4-compatible, RFC 4291) and, for IPv6, the
space outside 2000::/3, which the IANA IPv6 Address Space registry reserves to the IETF:
https://www.iana.org/assignments/ipv6-address-space/

`classify(ip)` answers with the most specific row containing `ip` (RFC 8190: a more specific
entry's flag wins over the block around it), or None when no row contains it. The guard
(reelflow.core.urlguard) unwraps embedded IPv4 addresses before asking, and denies every
address whose answer is not globally reachable. Nothing here depends on the Python version:
`ipaddress.is_global` and `is_private` changed between patch releases (3.11.7 and 3.12.1 call
192.0.0.0/24 global; 3.13 does not), so they are not used.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "GLOBAL_UNICAST_V6",
    "IPV4_SPECIAL",
    "IPV6_SPECIAL",
    "NOT_UNICAST",
    "SpecialRange",
    "classify",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class SpecialRange:
    network: Network
    name: str
    reference: str
    globally_reachable: bool | None  # None: "N/A" in the registry

    @property
    def denied(self) -> bool:
        return self.globally_reachable is not True

    def describe(self) -> str:
        where = f"{self.network}, " if self.network.prefixlen else ""
        return f"{self.name} ({where}{self.reference})"


def _row(net: str, name: str, reference: str, reachable: bool | None) -> SpecialRange:
    return SpecialRange(ipaddress.ip_network(net), name, reference, reachable)


IPV4_SPECIAL: tuple[SpecialRange, ...] = (
    _row("0.0.0.0/8", '"This network"', "RFC 791", False),
    _row("0.0.0.0/32", '"This host on this network"', "RFC 1122", False),
    _row("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    _row("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    _row("127.0.0.0/8", "Loopback", "RFC 1122", False),
    _row("169.254.0.0/16", "Link Local", "RFC 3927", False),
    _row("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    _row("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", False),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    _row("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    _row("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    _row("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    _row("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    _row("192.52.193.0/24", "AMT", "RFC 7450", True),
    _row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", None),
    _row("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", False),
    _row("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    _row("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    _row("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    _row("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    _row("240.0.0.0/4", "Reserved", "RFC 1112", False),
    _row("255.255.255.255/32", "Limited Broadcast", "RFC 8190", False),
)

IPV6_SPECIAL: tuple[SpecialRange, ...] = (
    _row("::1/128", "Loopback Address", "RFC 4291", False),
    _row("::/128", "Unspecified Address", "RFC 4291", False),
    _row("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    _row("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    _row("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215", False),
    _row("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    _row("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    _row("2001::/32", "TEREDO", "RFC 4380", None),
    _row("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    _row("2001:2::/48", "Benchmarking", "RFC 5180", False),
    _row("2001:3::/32", "AMT", "RFC 7450", True),
    _row("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    _row("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", None),
    _row("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    _row("2001:db8::/32", "Documentation", "RFC 3849", False),
    _row("2002::/16", "6to4", "RFC 3056", None),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    _row("3fff::/20", "Documentation", "RFC 9637", False),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    _row("fc00::/7", "Unique-Local", "RFC 4193", False),
    _row("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
)

# Not in the special-purpose registries, and not unicast that a fetch may reach either.
NOT_UNICAST: tuple[SpecialRange, ...] = (
    _row("224.0.0.0/4", "Multicast", "RFC 5771", False),
    _row("ff00::/8", "Multicast", "RFC 4291", False),
    _row("fec0::/10", "Site-Local (deprecated)", "RFC 3879", False),
    _row("::/96", "IPv4-compatible (deprecated)", "RFC 4291", False),
)

GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_RESERVED_V6 = SpecialRange(
    ipaddress.IPv6Network("::/0"), "Reserved by IETF (outside 2000::/3)", "RFC 4291", False
)

_BY_VERSION: dict[int, tuple[SpecialRange, ...]] = {
    4: IPV4_SPECIAL + NOT_UNICAST[:1],
    6: IPV6_SPECIAL + NOT_UNICAST[1:],
}


def classify(ip: IPAddress) -> SpecialRange | None:
    """The most specific special-purpose row containing `ip`, or None for ordinary global
    unicast. IPv6 outside 2000::/3 and outside every row is "Reserved by IETF"."""
    containing = [row for row in _BY_VERSION[ip.version] if ip in row.network]
    if containing:
        return max(containing, key=lambda row: row.network.prefixlen)
    if isinstance(ip, ipaddress.IPv6Address) and ip not in GLOBAL_UNICAST_V6:
        return _RESERVED_V6
    return None
