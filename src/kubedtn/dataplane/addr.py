"""Fast address handling for bulk work (``ipaddress`` is slow per interface CIDR, and a
lab has thousands).

``parse_cidr`` checks the form an interface address must have for the kernel and gives
its parts; canonical text is what ``inet_ntop`` prints, which is also how addresses read
back from the kernel are written, so the two compare as strings.
"""

from __future__ import annotations

import functools
import socket
from typing import NamedTuple


class Cidr(NamedTuple):
    family: int  # socket.AF_INET or AF_INET6
    packed: bytes
    prefixlen: int

    @property
    def text(self) -> str:
        return f"{socket.inet_ntop(self.family, self.packed)}/{self.prefixlen}"


def parse_ip(text: str) -> tuple[int, bytes]:
    """(family, packed) of an IPv4/IPv6 address; ValueError ("is not ...") when it is neither."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        return family, socket.inet_pton(family, text)
    except (OSError, ValueError):
        raise ValueError("is not an IPv4 or IPv6 address") from None


@functools.lru_cache(maxsize=1 << 16)  # one call checks, plans and encodes each address
def parse_cidr(text: str) -> Cidr:
    """``"10.0.0.1/24"`` → Cidr; ValueError saying what is wrong ("is not ...", "has ...")."""
    ip, sep, prefix = text.partition("/")
    if not sep:
        raise ValueError("has no prefix length: write address/prefix, e.g. 10.0.0.1/24 or fd00::1/64")
    try:
        family, packed = parse_ip(ip)
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address with a prefix length, e.g. 10.0.0.1/24") from None
    limit = 32 if family == socket.AF_INET else 128
    if not prefix.isdigit() or not 0 <= int(prefix) <= limit:
        raise ValueError(f"has a prefix length that is not 0..{limit}")
    return Cidr(family, packed, int(prefix))


def canonical_cidr(text: str) -> str:
    return parse_cidr(text).text


def canonical_ip(text: str) -> str:
    family, packed = parse_ip(text)
    return socket.inet_ntop(family, packed)
