"""Leader election on a Lease in the API server double: two replicas, one leader at any time;
a released lease taken over at once; a leader cut off from the API steps down and the other
takes over once the lease has expired by its own observation."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

import pytest

from kubedtn.controller.leader import LeaderConfig, LeaderElector
from kubedtn.store.kube import KubeStore
from kubedtn.store.resource import LEASE
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.faults import Rule
from tests.unit.controller.conftest import ClientFactory
from tests.unit.store.helpers import wait_until


class Watchdog:
    """Samples both electors until stopped; remembers any moment both said they led."""

    def __init__(self, a: LeaderElector, b: LeaderElector) -> None:
        self.overlaps = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(a, b), daemon=True)
        self._thread.start()

    def _run(self, a: LeaderElector, b: LeaderElector) -> None:
        while not self._stop.wait(0.001):
            self.samples += 1
            if a.is_leader() and b.is_leader():
                self.overlaps += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def electors(
    clients: ClientFactory, *, lease_duration: int, renew_deadline: float, retry_period: float
) -> Iterator[tuple[LeaderElector, LeaderElector, list[str]]]:
    """Two electors "a" and "b" (not started), each on its own client; the callbacks' log."""
    log: list[str] = []
    made = []
    for identity in ("a", "b"):
        store = KubeStore(clients(f"replica-{identity}"), resource=LEASE, request_timeout=retry_period)
        config = LeaderConfig(identity, lease_duration=lease_duration, renew_deadline=renew_deadline,
                              retry_period=retry_period)  # fmt: skip
        made.append(
            LeaderElector(
                store,
                config,
                on_started_leading=functools.partial(log.append, f"{identity} started"),
                on_stopped_leading=functools.partial(log.append, f"{identity} stopped"),
            )
        )
    try:
        yield made[0], made[1], log
    finally:
        for elector in made:
            elector.stop(timeout=10)


def lease_spec(kubeapi: KubeApiServer) -> dict[str, object]:
    rt = kubeapi.registry.find("coordination.k8s.io", "v1", "leases")
    assert rt is not None
    spec: dict[str, object] = kubeapi.store.get(rt, "kubedtn-system", "kubedtn-controller")["spec"]
    return spec


def test_two_replicas_one_leader_and_a_release_hands_over_at_once(
    clients: ClientFactory, kubeapi: KubeApiServer
) -> None:
    # The lease runs 30 s: the other replica can only lead within the test's 10 s because
    # the leader released it on stop.
    with electors(clients, lease_duration=30, renew_deadline=1.0, retry_period=0.05) as (a, b, log):
        a.start()
        b.start()
        watchdog = Watchdog(a, b)
        try:
            assert any(e.wait_for(True, 10) for e in (a, b))
            leader, other = (a, b) if a.is_leader() else (b, a)
            spec = lease_spec(kubeapi)
            assert spec["holderIdentity"] == leader.config.identity
            assert spec["leaseDurationSeconds"] == 30 and spec["leaseTransitions"] == 0
            assert str(spec["renewTime"]).endswith("Z") and spec["acquireTime"]
            assert not other.wait_for(True, 0.3)  # renewals keep it: the other stays a follower
            assert other.holder() == leader.config.identity

            leader.stop(timeout=10)
            assert not leader.is_leader()
            assert other.wait_for(True, 10)
            spec = lease_spec(kubeapi)
            assert spec["holderIdentity"] == other.config.identity and spec["leaseTransitions"] == 1
        finally:
            watchdog.stop()
    assert watchdog.overlaps == 0 and watchdog.samples > 0
    first = leader.config.identity
    second = other.config.identity
    assert log[:3] == [f"{first} started", f"{first} stopped", f"{second} started"]


@pytest.mark.parametrize("fault", ["errors", "silence"])
def test_a_leader_cut_off_from_the_api_steps_down_and_the_other_takes_over(
    clients: ClientFactory, kubeapi: KubeApiServer, fault: str
) -> None:
    with electors(clients, lease_duration=2, renew_deadline=1.0, retry_period=0.1) as (a, b, log):
        a.start()
        assert a.wait_for(True, 10)
        b.start()
        watchdog = Watchdog(a, b)
        try:
            assert not b.wait_for(True, 0.3)
            faults = kubeapi.faults
            if fault == "errors":
                cut = faults.fail(503, resource="leases", user_agent="replica-a")
            else:  # no answer at all: the elector's request timeout must end each attempt
                cut = faults.hang(resource="leases", user_agent="replica-a")
            with faults.active(cut):
                assert a.wait_for(False, 10)  # its renew deadline passed
                assert "a stopped" in log
                assert b.wait_for(True, 10)  # the lease expired by b's own clock
                assert lease_spec(kubeapi)["holderIdentity"] == "b"
            # a reaches the API again: b renews, so a stays a follower.
            assert not a.wait_for(True, 0.5)
            assert a.holder() == "b"
        finally:
            watchdog.stop()
    assert watchdog.overlaps == 0
    assert log[:3] == ["a started", "a stopped", "b started"]


def test_a_lost_race_is_a_conflict_not_a_second_leader(
    clients: ClientFactory, kubeapi: KubeApiServer
) -> None:
    # A free lease; every write of "b" meets 409 Conflict, as when another replica wrote the
    # lease between b's read and b's write (API Conventions, "Concurrency Control").
    lease = {"metadata": {"name": "kubedtn-controller"}, "spec": {"holderIdentity": ""}}
    kubeapi.create("coordination.k8s.io", "v1", "leases", lease, namespace="kubedtn-system")
    path = "/apis/coordination.k8s.io/v1/namespaces/kubedtn-system/leases/kubedtn-controller"
    with electors(clients, lease_duration=30, renew_deadline=1.0, retry_period=0.05) as (_, b, log):
        with kubeapi.faults.active(
            kubeapi.faults.add(Rule(resource="leases", conflict=True, user_agent="replica-b"))
        ):
            b.start()
            wait_until(lambda: sum(r == ("PUT", path) for r in kubeapi.requests) >= 3, what="b's attempts")
            assert not b.is_leader() and log == []
        assert b.wait_for(True, 10)
        assert lease_spec(kubeapi)["holderIdentity"] == "b"


def test_a_leader_renews_with_one_request_each_time(clients: ClientFactory, kubeapi: KubeApiServer) -> None:
    path = "/apis/coordination.k8s.io/v1/namespaces/kubedtn-system/leases/kubedtn-controller"
    with electors(clients, lease_duration=30, renew_deadline=1.0, retry_period=0.05) as (a, _, _):
        a.start()
        assert a.wait_for(True, 10)
        wait_until(lambda: kubeapi.requests.count(("PUT", path)) >= 5, what="five renewals")
        assert kubeapi.requests.count(("GET", path)) == 1  # the first read (404), then none
        assert a.is_leader()


def test_timings_that_could_let_two_lead_are_refused() -> None:
    with pytest.raises(ValueError, match="lease_duration 2s must exceed"):
        LeaderConfig("a", lease_duration=2, renew_deadline=1.5, retry_period=0.5)
    with pytest.raises(ValueError, match="identity is empty"):
        LeaderConfig("")
