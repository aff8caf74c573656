"""The bypass marker's decisions (the requests are checked by test_oracle, the kernel by
tests/integration/dataplane/test_bpfmark.py)."""

from __future__ import annotations

from kubedtn.dataplane import bpfmark
from kubedtn.dataplane.qdisc import LiveQdisc
from kubedtn.model import LinkProperties

CLSACT = LiveQdisc(ifindex=4, handle=0xFFFF_0000, parent=0xFFFF_FFF1, kind="clsact")
NETEM_ROOT = LiveQdisc(ifindex=4, handle=0x1_0000, parent=0xFFFF_FFFF, kind="netem")


def test_an_end_is_marked_when_marking_and_it_has_properties_or_opted_out() -> None:
    slow = LinkProperties(latency_us=1000)
    assert bpfmark.marker_wanted(slow, bypass=True, marking=True)
    assert bpfmark.marker_wanted(LinkProperties(), bypass=False, marking=True)
    assert not bpfmark.marker_wanted(LinkProperties(), bypass=True, marking=True)
    assert not bpfmark.marker_wanted(slow, bypass=False, marking=False)


def test_the_action_follows_what_is_there() -> None:
    assert bpfmark.marker_action(True, [NETEM_ROOT]) == "add"
    assert bpfmark.marker_action(True, [NETEM_ROOT, CLSACT]) == "refresh"
    assert bpfmark.marker_action(False, [CLSACT]) == "clear"
    assert bpfmark.marker_action(False, [NETEM_ROOT]) is None


def test_a_refresh_sends_only_the_filter() -> None:
    full = bpfmark.marker_requests(4, 9, where="a/eth1")
    refresh = bpfmark.marker_requests(4, 9, where="a/eth1", clsact=False)
    assert [r.what for r in full] == ["add clsact qdisc on a/eth1", "add bypass marker filter on a/eth1"]
    assert refresh == full[1:]
