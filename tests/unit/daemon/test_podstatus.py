"""status_after: what a pod's Topology records after each event, and its Ready condition."""

from __future__ import annotations

from dataclasses import replace

from kubedtn.daemon.podstatus import PROPERTIES, READY, status_after
from kubedtn.model import Topology
from tests.unit.daemon.helpers import link, pod

T0, T1 = "2024-01-01T00:00:00Z", "2024-01-01T00:00:09Z"


def ready(topo: Topology) -> tuple[str, str, str]:
    (cond,) = [c for c in topo.status.conditions if c.type == READY]
    return cond.status, cond.reason, cond.message


def step(topo: Topology, **kw: object) -> Topology:
    return replace(topo, status=status_after(topo, **kw))  # type: ignore[arg-type]


R1 = pod("r1", link(1, "r2"), link(2, "r3", local="eth2"), link(3, "localhost", local="eth3", remote="ens3"))


def test_alive_with_nothing_plumbed_waits_for_every_peer_and_says_which() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/run/netns/a"))
    assert (topo.status.src_ip, topo.status.net_ns) == ("10.0.0.1", "/run/netns/a")
    assert topo.status.links == () and topo.status.skipped == ("r2", "r3")
    assert ready(topo) == ("False", "WaitingForPeers", "0 of 3 links up; waiting for localhost, r2, r3")


def test_every_link_plumbed_is_ready_and_links_follow_the_spec_order() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), plumbed={3: R1.links[2], 1: R1.links[0]})
    topo = step(topo, now=T1, plumbed_own=(2,))
    assert [link.uid for link in topo.status.links] == [1, 2, 3]
    assert topo.status.skipped == ()
    assert ready(topo) == ("True", "LinksUp", "3 of 3 links up")
    (cond,) = topo.status.conditions
    assert cond.last_transition_time == T1 and cond.observed_generation == R1.generation


def test_an_unplumbed_link_makes_its_peer_skipped_again() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), plumbed={link.uid: link for link in R1.links})
    topo = step(topo, now=T1, unplumbed=(1,))
    assert topo.status.skipped == ("r2",) and [link.uid for link in topo.status.links] == [2, 3]


def test_a_failure_is_ready_false_with_the_message() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), failure="default/r1: link 2: boom")
    assert ready(topo) == ("False", "SetupFailed", "default/r1: link 2: boom")


def test_a_stopped_pod_records_nothing_but_its_condition() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), plumbed={1: R1.links[0]})
    topo = step(topo, now=T1, alive=("", ""))
    assert (topo.status.src_ip, topo.status.net_ns, topo.status.links, topo.status.skipped) == (
        "",
        "",
        (),
        (),
    )
    assert ready(topo)[:2] == ("False", "PodDown")


def test_the_transition_time_moves_only_when_the_status_flips() -> None:
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"))
    topo = step(topo, now=T1, plumbed={1: R1.links[0]})  # still False, other message
    (cond,) = topo.status.conditions
    assert cond.last_transition_time == T0 and "1 of 3" in cond.message


def test_plumbed_own_takes_the_pods_own_spec_entry() -> None:
    theirs = link(1, "r1", local="eth9")  # what the peer says of uid 1
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), plumbed_own=(1, 42))
    assert topo.status.links == (R1.links[0],)
    assert theirs not in topo.status.links


def properties(topo: Topology) -> tuple[str, str, str]:
    (cond,) = [c for c in topo.status.conditions if c.type == "PropertiesApplied"]
    return cond.status, cond.reason, cond.message


def test_properties_the_kernel_cannot_emulate_are_noted_per_link_and_merged() -> None:
    n1 = "link 1: latency on /n/eth1 not applied: sch_netem is missing in this kernel"
    n2 = "link 2: loss on /n/eth2 not applied: sch_netem is missing in this kernel"
    topo = step(R1, now=T0, alive=("10.0.0.1", "/n"), plumbed={1: R1.links[0]}, not_applied={1: n1})
    assert properties(topo) == ("False", "NetemMissing", n1)
    topo = step(topo, now=T1, plumbed_own=(2,), not_applied={2: n2})  # a peer plumbed link 2
    assert properties(topo) == ("False", "NetemMissing", f"{n1} | {n2}")
    topo = step(topo, now=T1, unplumbed=(1,), not_applied={})
    assert properties(topo) == ("False", "NetemMissing", n2)
    topo = step(topo, now=T1, plumbed={2: R1.links[1]}, not_applied={})  # re-plumbed in full
    assert properties(topo) == ("True", "Applied", "every link property is applied")
    assert ready(step(topo, now=T1, alive=("", "")))[1] == "PodDown"
    assert [c.type for c in step(topo, now=T1, alive=("", "")).status.conditions] == ["Ready"]


def test_properties_applied_appears_with_the_first_plumbed_link() -> None:
    """A pod whose peers are all down records no PropertiesApplied (and so a second SetupPod
    of it changes nothing: no write); its first plumbed link brings the condition."""
    alive = step(R1, now=T0, alive=("10.0.0.1", "/n"))
    waiting = step(alive, now=T1, alive=("10.0.0.1", "/n"), unplumbed=(1, 2, 3), not_applied={})
    assert waiting.status == alive.status
    up = step(waiting, now=T1, plumbed={1: R1.links[0]}, not_applied={})
    assert [(c.type, c.status) for c in up.status.conditions if c.type == PROPERTIES] == [
        (PROPERTIES, "True")
    ]
    # Once there, it stays and follows the links (here: all gone again).
    down = step(up, now=T1, unplumbed=(1,), not_applied={})
    assert any(c.type == PROPERTIES for c in down.status.conditions)


def test_a_new_namespace_is_a_new_life_and_a_skip_removes_nothing() -> None:
    """Links recorded for a pod's old namespace are dropped when it comes up in another;
    coming up again in the same one keeps what a peer's daemon recorded meanwhile."""
    up = step(R1, now=T0, alive=("10.0.0.1", "/run/netns/old"), plumbed={1: R1.links[0]})
    again = step(up, now=T1, alive=("10.0.0.1", "/run/netns/old"))
    assert [x.uid for x in again.status.links] == [1]
    moved = step(up, now=T1, alive=("10.0.0.2", "/run/netns/new"))
    assert moved.status.links == () and moved.status.skipped == ("r2", "r3")


def test_a_new_namespace_or_sandbox_at_the_same_path_is_a_new_life() -> None:
    up = step(R1, now=T0, alive=("10.0.0.1", "/n"), sandbox=("1:10", "c1"), plumbed={1: R1.links[0]})
    assert (up.status.net_ns_id, up.status.container_id) == ("1:10", "c1")
    # The same sandbox again (a retried ADD), or a caller that knows no identity: links kept.
    for sandbox in (("1:10", "c1"), ("", ""), None):
        again = step(up, now=T1, alive=("10.0.0.1", "/n"), sandbox=sandbox)
        assert [x.uid for x in again.status.links] == [1]
        assert (again.status.net_ns_id, again.status.container_id) == ("1:10", "c1")
    # Another namespace at that path, or another sandbox: the old links went with the old.
    for sandbox in (("1:11", "c1"), ("1:10", "c2")):
        new = step(up, now=T1, alive=("10.0.0.1", "/n"), sandbox=sandbox)
        assert new.status.links == () and (new.status.net_ns_id, new.status.container_id) == sandbox
    # Another path without identities: none of the old ones is kept.
    moved = step(up, now=T1, alive=("10.0.0.1", "/m"))
    assert (moved.status.net_ns_id, moved.status.container_id, moved.status.links) == ("", "", ())
    down = step(up, now=T1, alive=("", ""))
    assert (down.status.net_ns_id, down.status.container_id) == ("", "")
