"""Interface CIDRs: the IPv4 shortcut decides exactly as ``ipaddress`` does."""

from __future__ import annotations

import random

import pytest

from kubedtn.model import addresses
from kubedtn.model.units import UnitError


def _by_ipaddress(text: str, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """parse_cidr with the shortcut turned off (uncached): the canonical form, or None if refused."""
    with monkeypatch.context() as m:
        m.setattr(addresses, "_plain_ipv4_host", lambda _text: False)
        try:
            return addresses.parse_cidr.__wrapped__(text)
        except UnitError:
            return None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("10.0.0.0/24", "network address"),
        ("10.0.0.255/24", "broadcast address"),
        ("127.0.0.1/8", "loopback"),
        ("224.0.0.5/24", "multicast"),
        ("0.0.0.0/0", "unspecified"),
        ("10.0.0.256/24", "not a valid address"),
        ("10.0.0.01/24", "not a valid address"),
        ("10.0.0.1/33", "not a valid address"),
        ("10.0.0.1", "no prefix length"),
    ],
)
def test_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(UnitError, match=problem):
        addresses.parse_cidr(text)


@pytest.mark.parametrize("text", ["10.0.0.1/30", "10.0.0.0/31", "10.0.0.1/32", "192.168.1.7/24", "1.2.3.4/0"])
def test_accepted_unchanged(text: str) -> None:
    assert addresses.parse_cidr(text) == text


def test_shortcut_agrees_with_ipaddress(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    edges = [0, 1, 9, 10, 99, 100, 126, 127, 128, 223, 224, 239, 240, 254, 255, 256]
    taken = 0
    for _ in range(20000):
        octets = [str(rnd.choice(edges) if rnd.random() < 0.6 else rnd.randrange(300)) for _ in range(4)]
        if rnd.random() < 0.05:
            octets[rnd.randrange(4)] = "0" + octets[0]
        prefix = str(
            rnd.choice([0, 1, 8, 24, 29, 30, 31, 32, 33]) if rnd.random() < 0.8 else rnd.randrange(120)
        )
        text = ".".join(octets) + "/" + prefix
        if addresses._plain_ipv4_host(text):
            taken += 1
            assert _by_ipaddress(text, monkeypatch) == text, text
        elif rnd.random() < 0.2 and _by_ipaddress(text, monkeypatch) == text:
            pytest.fail(f"{text}: accepted unchanged by ipaddress but not by the shortcut")
    assert taken > 1000  # the shortcut was exercised
