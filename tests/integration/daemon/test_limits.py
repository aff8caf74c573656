"""The daemon's limits (kubedtn.daemon.limits), against a running daemon: requests in
flight on both sockets, items per batch, the peer client splitting long lists, and the
metrics listener (its address, and scrapes served from a cached read)."""

from __future__ import annotations

import math
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager

import grpc
import pytest

from kubedtn.cni import plainrpc
from kubedtn.daemon.limits import MAX_BATCH
from kubedtn.daemon.metrics import SNAPSHOT_TTL_S
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.remote import GrpcRemote
from kubedtn.dataplane import Endpoint
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.integration.daemon.topologies import load, pair
from tests.support.daemon import DaemonHandle, running_daemon
from tests.support.netns import NamespacePool, path

pytestmark = pytest.mark.root

DEADLINE_S = 20.0


@contextmanager
def store_write_locked(d: DaemonHandle) -> Iterator[None]:
    """The daemon's store with its write lock taken by another process's connection (the
    daemon's writes wait for it, up to its busy timeout)."""
    with closing(sqlite3.connect(d.store_path, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


def status_code_now(d: DaemonHandle) -> grpc.StatusCode:
    try:
        d.local().Status(pb.StatusQuery(), timeout=10)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def wait_for_code(d: DaemonHandle, code: grpc.StatusCode) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while (seen := status_code_now(d)) != code:
        assert time.monotonic() < deadline, f"Status kept answering {seen.name}, never {code.name}"


def held_setup_pod(d: DaemonHandle, query: pb.SetupPodQuery) -> Future[pb.BoolResponse]:
    """A SetupPod the daemon holds (Status is refused meanwhile). The server counts a call
    until a moment after its answer, so the call just before can still hold the slot when
    SetupPod arrives: then it is refused, as a CNI plugin's would be, and sent again. For
    the same reason one refused Status could be the previous probe's doing, so two in a
    row, with SetupPod still unanswered after both, are taken as SetupPod's (the server
    exposes no count of calls in flight to ask instead)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        busy: Future[pb.BoolResponse] = d.local().SetupPod.future(query, timeout=60)
        refusals = 0
        while not busy.done():
            refusals = refusals + 1 if status_code_now(d) == grpc.StatusCode.RESOURCE_EXHAUSTED else 0
            if refusals == 2 and not busy.done():
                return busy
            assert time.monotonic() < deadline, "Status kept being served beside SetupPod"
        refused = busy.exception()
        assert isinstance(refused, grpc.RpcError), f"SetupPod ended while the store was locked: {busy}"
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
        assert time.monotonic() < deadline, "SetupPod kept being refused"


def plain_status(d: DaemonHandle) -> str:
    """The status of one Status call on the plain socket, as the CNI plugin makes it."""
    try:
        plainrpc.call(plainrpc.plain_socket_path(str(d.socket_path)), "Status", b"", timeout_s=10)
    except plainrpc.CallFailed as e:
        return e.status
    return "OK"


def test_a_daemon_at_its_request_limit_answers_resource_exhausted_and_recovers(pool: NamespacePool) -> None:
    with running_daemon(extra_args=["--max-concurrent-rpcs", "1"]) as d:
        with d.store() as store:
            load(store, pair())
        (ns,) = pool.make(1)
        with store_write_locked(d):
            # SetupPod waits on the store's lock, holding the one request the socket allows.
            busy = held_setup_pod(d, pb.SetupPodQuery(name="r1", net_ns=path(ns)))
            assert status_code_now(d) == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert not busy.done()
        assert busy.result(timeout=60).response is True  # the held request was served
        wait_for_code(d, grpc.StatusCode.OK)


def test_the_plain_socket_refuses_connections_beyond_the_limit_at_once() -> None:
    with running_daemon(extra_args=["--max-concurrent-rpcs", "2"]) as d:
        idle = []
        for _ in range(2):  # connected, sending nothing: each holds a slot
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(plainrpc.plain_socket_path(str(d.socket_path)))
            idle.append(s)
        try:
            # (the accept thread takes connections in order: both slots are held by now)
            assert plain_status(d) == "RESOURCE_EXHAUSTED"
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + DEADLINE_S
        while plain_status(d) != "OK":
            assert time.monotonic() < deadline, "the plain socket never served again"
        assert "plain socket: too many calls at once; refused" in d.log()


def test_batches_over_the_limit_are_refused_naming_the_count_and_the_limit() -> None:
    with running_daemon(extra_args=["--insecure-remote-tcp"]) as d:
        too_many = MAX_BATCH + 1
        pods = [pb.SetupPodQuery(name=f"p{i}", net_ns=f"/run/netns/p{i}") for i in range(too_many)]
        cases = [
            (lambda: d.local().SetupPods(pb.SetupPodsQuery(pods=pods), timeout=30), "SetupPods", "pods"),
            (
                lambda: d.local().DestroyPods(
                    pb.PodsQuery(pods=[pb.PodQuery(name=q.name) for q in pods]), timeout=30
                ),
                "DestroyPods",
                "pods",
            ),
            (
                lambda: d.remote().DeleteMany(
                    pb.RemotePods(pods=[pb.RemotePod(name=f"p{i}") for i in range(too_many)]), timeout=30
                ),
                "Remote.DeleteMany",
                "link ends",
            ),
            (
                lambda: d.local().AddLinks(
                    pb.LinksBatchQuery(
                        local_pod=pb.Pod(name="r1"), links=[pb.Link(uid=i) for i in range(too_many)]
                    ),
                    timeout=30,
                ),
                "AddLinks of default/r1",
                "links",
            ),
        ]
        for call, method, what in cases:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert caught.value.details() == (
                f"{method}: {too_many} {what} in one request; at most {MAX_BATCH} are accepted: "
                "send them in several requests"
            )
        # At the limit it is served (each pod answered on its own: none is in a Topology).
        results = d.local().SetupPods(pb.SetupPodsQuery(pods=pods[:MAX_BATCH]), timeout=60).results
        assert len(results) == MAX_BATCH


def test_the_peer_client_splits_a_list_longer_than_a_request_may_carry() -> None:
    with running_daemon(extra_args=["--insecure-remote-tcp"]) as d:
        client = GrpcRemote(port=d.grpc_port, timeout=60)
        ends = [
            RemoteEnd(
                pod=f"p{i}",
                kube_ns="default",
                node_ip="127.0.0.1",
                uid=i + 1,
                vni=5000 + i + 1,
                vtep="198.51.100.1",
                endpoint=Endpoint(netns="/run/netns/none", name="eth1"),
            )
            for i in range(MAX_BATCH + 1)
        ]
        try:
            for errors in (
                client.update_many("127.0.0.1", ends),
                client.start_update_many("127.0.0.1", ends).result(timeout=120),
            ):
                # every end answered on its own by the store check, none refused as a batch
                assert len(errors) == len(ends)
                assert all(e is not None and "no Topology default/p" in str(e) for e in errors)
                assert str(errors[-1]).startswith(f"link {MAX_BATCH + 1} of default/p{MAX_BATCH}")
        finally:
            client.close()


def scrape(d: DaemonHandle, name: str) -> float:
    text = urllib.request.urlopen(d.metrics_url, timeout=30).read().decode()
    (value,) = [line.split()[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(value)


def test_a_storm_of_scrapes_reads_each_pod_namespace_once_per_snapshot(pool: NamespacePool) -> None:
    with running_daemon() as d:
        with d.store() as store:
            load(store, pair())
        for name, ns in zip(("r1", "r2"), pool.make(2), strict=True):
            d.local().SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30)
        reads = "kubedtn_metrics_namespace_reads_total"
        started = time.monotonic()
        before = scrape(d, reads)
        with ThreadPoolExecutor(max_workers=8) as scrapers:
            after = max(scrapers.map(lambda _: scrape(d, reads), range(64)))
        elapsed = time.monotonic() - started
        # 65 scrapes; the namespaces were read (2 at a time) at most once per TTL they spanned
        snapshots = (after - before) / 2
        assert snapshots == int(snapshots)
        assert snapshots <= math.ceil(elapsed / SNAPSHOT_TTL_S) + 1 < 65


def test_metrics_listen_on_exactly_the_address_given() -> None:
    with running_daemon() as d:  # (--http-addr 127.0.0.1:PORT)
        listening = subprocess.run(
            ["ss", "-Hltn", f"sport = :{d.http_port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert f"127.0.0.1:{d.http_port}" in listening and f"*:{d.http_port}" not in listening
