"""Link addresses: interface CIDRs (dual-stack lists), MAC addresses, link peers.

Dual stack is written in kube-dtn's single string field as a comma-separated list:
``local_ip: "10.0.0.1/24,fd00::1/64"`` (spaces after commas are allowed). The field
stays a string, so kube-dtn's schema still accepts it; ``Link.local_ips`` is the tuple.

The patterns (shared with the CRD) check the shape; the functions here check the
meaning exactly with ``ipaddress`` (the schema cannot say "host address" or spell out
every IPv6 form). Parsers raise ``UnitError`` with an "is not ..." phrase.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final

from kubedtn.model.names import DNS1123_SUBDOMAIN_PATTERN
from kubedtn.model.units import UnitError, compiled, quoted

if TYPE_CHECKING:
    import ipaddress

_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4: Final = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# Shape only (hex digits, colons, an optional dotted IPv4 tail); ipaddress decides.
_IPV6: Final = r"[0-9a-fA-F:.]*:[0-9a-fA-F:.]*"
_CIDR: Final = rf"(?:{_IPV4}/(?:3[0-2]|[12]?[0-9])|{_IPV6}/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))"
CIDR_LIST_PATTERN: Final = rf"^(?:{_CIDR}(?:, *{_CIDR})*)?$"
CIDR_ACCEPTS: Final = (
    'host addresses with prefix length, comma-separated for dual stack, e.g. "10.0.0.1/24,fd00::1/64"'
)

# Unicast: the least significant bit of the first octet (I/G bit) is 0.
MAC_PATTERN: Final = r"^[0-9a-fA-F][02468aceACE](?::[0-9a-fA-F]{2}){5}$"
MAC_ACCEPTS: Final = 'a unicast MAC address like "02:00:00:00:00:01" (first octet even, not all zero)'

PEER_LOCALHOST: Final = "localhost"
PEER_PHYSICAL_PREFIX: Final = "physical/"
PEER_POD_PATTERN: Final = (
    rf"^(?:{PEER_LOCALHOST}|{PEER_PHYSICAL_PREFIX}(?:{_IPV4}|{_IPV6})|{DNS1123_SUBDOMAIN_PATTERN[1:-1]})$"
)
PEER_ACCEPTS: Final = (
    'a pod name, "localhost" (macvlan on the host interface peer_intf) or "physical/<host ip>" (VXLAN)'
)


def _bad_unicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return "a loopback address"
    return None


# An IPv4 host address with prefix length written canonically (no leading zeros): the form
# nearly every file uses, checked without ``ipaddress`` (whose per-address cost adds up over
# the thousands of addresses of a big lab).
_DECIMAL: Final = r"(0|[1-9][0-9]{0,2})"
_IPV4_CIDR: Final = re.compile(rf"{_DECIMAL}\.{_DECIMAL}\.{_DECIMAL}\.{_DECIMAL}/{_DECIMAL}")


def _plain_ipv4_host(text: str) -> bool:
    """True when ``text`` is a canonical IPv4 CIDR that ``parse_cidr`` accepts unchanged;
    False leaves the decision (and the error message) to ``ipaddress``."""
    m = _IPV4_CIDR.fullmatch(text)
    if m is None:
        return False
    a, b, c, d, prefix = map(int, m.groups())
    if max(a, b, c, d) > 255 or prefix > 32:  # (a prefix like 999 too)
        return False
    if a == 127 or 224 <= a <= 239 or (a, b, c, d) == (0, 0, 0, 0):  # loopback, multicast, unspecified
        return False
    host_bits = (1 << (32 - prefix)) - 1
    host = ((a << 24) | (b << 16) | (c << 8) | d) & host_bits
    return prefix > 30 or host not in (0, host_bits)  # not the network or broadcast address


@functools.lru_cache(maxsize=8192)
def parse_cidr(text: str) -> str:
    """``"10.0.0.1/24"`` → canonical ``"10.0.0.1/24"``; IPv6 compressed and lower-case.

    Cached: the daemon parses the same objects again on every event.
    """
    if _plain_ipv4_host(text):
        return text
    import ipaddress  # on first use: keeps `import kubedtn.model` cheap (the CNI plugin starts per pod)

    if "/" not in text:
        raise UnitError(f"has no prefix length: {CIDR_ACCEPTS}")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise UnitError(f"is not a valid address: {CIDR_ACCEPTS}") from None
    bad = _bad_unicast(iface.ip)
    if bad:
        raise UnitError(f"is {bad}: {CIDR_ACCEPTS}")
    net = iface.network
    if (
        iface.version == 4
        and net.prefixlen <= 30
        and iface.ip in (net.network_address, net.broadcast_address)
    ):
        which = "network" if iface.ip == net.network_address else "broadcast"
        raise UnitError(f"is the {which} address of {net}: {CIDR_ACCEPTS}")
    return str(iface)


def parse_cidr_list(text: str) -> tuple[str, ...]:
    """``"10.0.0.1/24, fd00::1/64"`` → ``("10.0.0.1/24", "fd00::1/64")``; ``""`` → ``()``."""
    if not text.strip():
        return ()
    out: list[str] = []
    for part in text.split(","):
        item = part.strip()
        try:
            cidr = parse_cidr(item)
        except UnitError as e:
            raise UnitError(f"has {quoted(item)} which {e}") from None
        if cidr in out:
            raise UnitError(f"lists {cidr} twice: {CIDR_ACCEPTS}")
        out.append(cidr)
    return tuple(out)


def format_cidr_list(cidrs: tuple[str, ...]) -> str:
    return ",".join(cidrs)


def cidr_version(cidr: str) -> int:
    return 6 if ":" in cidr else 4


@functools.lru_cache(maxsize=1 << 16)  # the daemon checks each end's MAC in the model and in the dataplane
def parse_mac(text: str) -> str:
    """``"02:AA:00:00:00:01"`` → ``"02:aa:00:00:00:01"``."""
    if not compiled(MAC_PATTERN).fullmatch(text) or text == "00:00:00:00:00:00":
        raise UnitError(f"is not {MAC_ACCEPTS}")
    return text.lower()


def parse_physical_ip(text: str) -> str:
    """The ``<ip>`` of ``physical/<ip>``: a unicast IPv4/IPv6 host address."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise UnitError(f"is not {PEER_ACCEPTS}") from None
    bad = _bad_unicast(ip)
    if bad:
        raise UnitError(f"names {bad}: {PEER_ACCEPTS}")
    return str(ip)
