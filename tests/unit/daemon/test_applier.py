"""The applier's second chance on a kernel without sch_netem: the rate alone, the marker kept."""

from __future__ import annotations

from kubedtn.daemon.applier import rate_only
from kubedtn.dataplane import Endpoint, VethSpec
from kubedtn.dataplane.bpfmark import marker_wanted
from kubedtn.model import LinkProperties


def test_rate_only_keeps_the_rate_and_the_ends_that_asked_for_properties_stay_marked() -> None:
    slow = LinkProperties(latency_us=10_000, rate_bps=10_000_000)
    late = LinkProperties(latency_us=10_000)
    spec = VethSpec(
        uid=1,
        a=Endpoint(netns="/run/netns/a", name="eth1", properties=slow),
        b=Endpoint(netns="/run/netns/b", name="eth1", properties=late),
    )
    stripped = rate_only(spec)
    assert isinstance(stripped, VethSpec)
    assert stripped.a.properties == LinkProperties(rate_bps=10_000_000)
    assert stripped.b.properties == LinkProperties()
    assert all(marker_wanted(e.properties, bypass=e.bypass, marking=True) for e in (stripped.a, stripped.b))
    plain = VethSpec(
        uid=2, a=Endpoint(netns="/run/netns/a", name="eth2"), b=Endpoint(netns="/run/netns/b", name="eth2")
    )
    assert rate_only(plain) == plain  # no properties: nothing to keep off the bypass
