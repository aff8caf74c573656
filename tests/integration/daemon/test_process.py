"""The daemon as a process: gRPC over the unix socket and TCP, status codes, files, signals, metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from kubedtn.cni import plainrpc
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.remote import GrpcRemote
from kubedtn.dataplane import Endpoint
from kubedtn.errors import KubedtnError, TemporaryError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc
from tests.integration.daemon.topologies import load, pair, record_running, ring, topology
from tests.support.daemon import DaemonHandle, free_port, running_daemon
from tests.support.netns import NamespacePool, links_by_name, path, sh, udp_echo, wait_until
from tests.support.pki import DAEMON_IP, PEER_IP, Pki, pki

pytestmark = pytest.mark.root
__all__ = ["pki"]  # a fixture


def our_links(ns: str) -> list[str]:
    return sorted(n for n in links_by_name(ns) if n != "lo")


def up_pair(d: DaemonHandle, pool: NamespacePool) -> tuple[str, str]:
    """r1 and r2 stored, each set up over the unix socket in a new namespace; the namespaces."""
    with d.store() as store:
        load(store, pair())
    a, b = pool.make(2)
    for name, ns in (("r1", a), ("r2", b)):
        reply = d.local().SetupPod(
            pb.SetupPodQuery(name=name, kube_ns="default", net_ns=path(ns)), timeout=30
        )
        assert reply.response is True
    return a, b


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()


def test_pods_come_up_and_down_over_the_unix_socket(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    a, b = up_pair(d, pool)
    stub = d.local()
    assert our_links(a) == ["eth1"] and our_links(b) == ["eth1"]
    assert udp_echo(client_ns=a, client_ip="10.0.1.1", server_ns=b, server_ip="10.0.1.2") == 3

    got = stub.Get(pb.PodQuery(name="r1", kube_ns="default"), timeout=10)
    assert (got.src_ip, got.net_ns, got.safe, [x.uid for x in got.links]) == (d.host_ip, path(a), True, [1])
    check = stub.CheckPod(pb.SetupPodQuery(name="r1", kube_ns="default", net_ns=path(a)), timeout=10)
    assert (check.ok, check.in_topology, list(check.problems)) == (True, True, [])
    status = stub.Status(pb.StatusQuery(), timeout=10)
    assert (status.node_ip, status.pods_alive, status.links) == (d.host_ip, 2, 1)
    assert status.store == f"sqlite:{d.store_path}"

    for _ in range(2):  # DEL is called more than once
        assert stub.DestroyPod(pb.PodQuery(name="r1", kube_ns="default"), timeout=30).response is True
    assert our_links(a) == [] and our_links(b) == []
    # kube-dtn's answer for a pod in no Topology: OK status, response false
    assert stub.DestroyPod(pb.PodQuery(name="web", kube_ns="default"), timeout=30).response is False
    assert stub.SetupPod(pb.SetupPodQuery(name="web", kube_ns="default", net_ns=path(a)), timeout=30).response


def test_setup_pods_and_destroy_pods_answer_per_pod(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    with d.store() as store:
        load(store, ring(4))
    spaces = pool.make(4)
    stub = d.local()
    query = pb.SetupPodsQuery(
        pods=[
            pb.SetupPodQuery(name=f"p{i}", kube_ns="default", net_ns=path(ns)) for i, ns in enumerate(spaces)
        ]
        + [pb.SetupPodQuery(name="p9", kube_ns="default", net_ns="/run/netns/kdtn-t-none")]
    )
    results = stub.SetupPods(query, timeout=60).results
    assert [(r.name, r.ok) for r in results] == [
        ("p0", True),
        ("p1", True),
        ("p2", True),
        ("p3", True),
        ("p9", True),
    ]
    assert all(our_links(ns) == ["eth1", "eth2"] for ns in spaces)
    down = stub.DestroyPods(
        pb.PodsQuery(pods=[pb.PodQuery(name=f"p{i}") for i in range(4)]), timeout=60
    ).results
    assert all(r.ok for r in down) and all(our_links(ns) == [] for ns in spaces)


def test_errors_arrive_as_grpc_status_codes_with_the_precise_message(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    bad = {"uid": 1, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1", "local_ip": "10.0.1.300/24"}
    with d.store() as store:
        load(store, [topology("bad", [bad]), *pair()])
    (a,) = pool.make(1)
    stub = d.local()

    with pytest.raises(grpc.RpcError) as caught:
        stub.SetupPod(pb.SetupPodQuery(name="bad", kube_ns="default", net_ns=path(a)), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "default/bad: spec.links[0].local_ip" in details and "10.0.1.300/24" in details
    assert our_links(a) == []

    missing = pb.SetupPodQuery(name="r1", kube_ns="default", net_ns="/run/netns/kdtn-t-missing")
    assert code_of(lambda: stub.SetupPod(missing, timeout=30)) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(lambda: stub.Get(pb.PodQuery(name="nobody"), timeout=10)) == grpc.StatusCode.NOT_FOUND
    no_netns = pb.SetupPodQuery(name="r1", kube_ns="default")
    assert code_of(lambda: stub.SetupPod(no_netns, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    bad_link = pb.LinksBatchQuery(
        local_pod=pb.Pod(name="r1", kube_ns="default"),
        links=[pb.Link(uid=1, peer_pod="r2", local_intf="eth0", peer_intf="eth1")],
    )
    assert code_of(lambda: stub.AddLinks(bad_link, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT


def test_without_certificates_neither_local_nor_remote_is_served_on_tcp(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    mode = d.socket_path.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(d.socket_path.parent.stat().st_mode) == 0o700
    with d.store() as store:
        load(store, pair())
    (ns,) = pool.make(1)
    with d.channel(tcp=True) as tcp:
        local = pb_grpc.LocalStub(tcp)
        attacks = [
            lambda: local.Status(pb.StatusQuery(), timeout=10),
            lambda: local.SetupPod(pb.SetupPodQuery(name="r1", net_ns=path(ns)), timeout=10),
            lambda: local.SetupPod(pb.SetupPodQuery(name="r1", net_ns="/proc/1/ns/net"), timeout=10),
            lambda: local.SetAlive(pb.Pod(name="r1", src_ip="not an ip", net_ns=path(ns)), timeout=10),
            lambda: local.DestroyPod(pb.PodQuery(name="r2"), timeout=10),
            lambda: local.AddLinks(
                pb.LinksBatchQuery(
                    local_pod=pb.Pod(name="r1"),
                    links=[pb.Link(uid=9, peer_pod="localhost", local_intf="eth9", peer_intf="eth0")],
                ),
                timeout=10,
            ),
        ]
        for attack in attacks:
            with pytest.raises(grpc.RpcError) as caught:
                attack()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "--insecure-local-tcp" in (caught.value.details() or "")
        end = pb.RemotePod(intf_name="eth1", vni=5001, name="r2")
        remote = pb_grpc.RemoteStub(tcp)
        for call in (
            lambda: remote.Update(end, timeout=10),
            lambda: remote.DeleteMany(pb.RemotePods(pods=[end]), timeout=10),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "start it with --tls-cert, --tls-key and --tls-ca" in (caught.value.details() or "")
    with d.store() as store:  # nothing changed: neither pod alive, no link in the namespace
        assert all(not o.get("status", {}).get("src_ip") for o in store.list("default")[0])
    assert our_links(ns) == []
    with d.channel() as unix:
        call = pb_grpc.RemoteStub(unix).Update
        assert code_of(lambda: call(pb.RemotePod(), timeout=10)) == grpc.StatusCode.UNIMPLEMENTED


def test_insecure_local_tcp_serves_local_on_tcp_and_says_so() -> None:
    with running_daemon(extra_args=["--insecure-local-tcp"]) as d, d.channel(tcp=True) as tcp:
        assert pb_grpc.LocalStub(tcp).Status(pb.StatusQuery(), timeout=10).node_ip == d.host_ip
        assert "--insecure-local-tcp: Local is served on TCP without authentication" in d.log()
        assert "no --tls-cert: Remote is not served on TCP" in d.log()


def test_the_topology_pod_list_follows_the_store(kubedtn_daemon: DaemonHandle) -> None:
    d = kubedtn_daemon

    def pods() -> list[str]:
        return list(json.loads(d.pod_list_path.read_text())["pods"])

    assert pods() == []
    with d.store() as store:
        load(store, pair())
        wait_until(lambda: pods() == ["default/r1", "default/r2"], what="r1 and r2 in the pod list")
        store.delete("default", "r2")
        wait_until(lambda: pods() == ["default/r1"], what="r2 gone from the pod list")


def test_metrics_show_interface_counters_rising_and_rpc_durations(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    a, b = up_pair(d, pool)

    def sample(name: str, labels: str) -> float:
        text = urllib.request.urlopen(d.metrics_url, timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} with {labels} not in the scrape")

    labels = 'interface="eth1",namespace="default",pod="r1"'
    before = sample("kubedtn_interface_transmit_packets_total", labels)
    assert udp_echo(client_ns=a, client_ip="10.0.1.1", server_ns=b, server_ip="10.0.1.2", count=4) == 4
    assert sample("kubedtn_interface_transmit_packets_total", labels) >= before + 4
    assert sample("kubedtn_links", 'kind="veth"') == 1
    assert sample("kubedtn_rpc_duration_seconds_count", 'method="SetupPod"') == 2


def test_sigkill_then_restart_reconciles_and_sigterm_cleans_up(pool: NamespacePool) -> None:
    with running_daemon() as d:
        with d.store() as store:
            load(store, ring(3))
        spaces = pool.make(3)
        stub = d.local()
        for i, ns in enumerate(spaces):
            stub.SetupPod(pb.SetupPodQuery(name=f"p{i}", kube_ns="default", net_ns=path(ns)), timeout=30)
        d.close_channels()
        first = d.pid
        assert d.kill(signal.SIGKILL) == -signal.SIGKILL
        assert d.pidfile.exists() and d.socket_path.exists()  # left behind by the crash
        sh(spaces[0], "ip", "link", "del", "eth1")  # p0-p1 deleted while the daemon is down

        d.start()  # stale pidfile and socket are no obstacle
        assert d.pid != first
        # the pidfile is written just after the socket answers
        wait_until(lambda: d.pidfile.read_text() == f"{d.pid}\n", what="the new pid in the pidfile")
        assert all(our_links(ns) == ["eth1", "eth2"] for ns in spaces)  # restored before serving

        assert d.kill(signal.SIGTERM) == 0
        assert not d.pidfile.exists() and not d.socket_path.exists()
        assert "daemon stopped" in d.log()


def test_a_second_daemon_on_the_same_pidfile_refuses_to_start(kubedtn_daemon: DaemonHandle) -> None:
    d = kubedtn_daemon
    twin = subprocess.run(d.argv(), capture_output=True, text=True, timeout=60, check=False)
    assert twin.returncode == 1
    assert f"another kubedtn daemon (pid {d.pid}) runs with pidfile {d.pidfile}" in d.log()
    assert int(d.pidfile.read_text()) == d.pid
    assert d.local().Status(pb.StatusQuery(), timeout=10).node_ip == d.host_ip  # the first one still serves


def test_a_second_daemon_on_the_same_port_refuses_to_start(kubedtn_daemon: DaemonHandle) -> None:
    """Other pidfile, socket and state: only the port is shared, and it is not taken twice."""
    d = kubedtn_daemon
    with running_daemon(start=False) as twin:
        twin.grpc_port = d.grpc_port
        with pytest.raises(RuntimeError, match="exited with 1 during start"):
            twin.start()
        assert f"cannot listen on 127.0.0.1:{d.grpc_port} (GRPC_PORT)" in twin.log()
    assert d.local().Status(pb.StatusQuery(), timeout=10).node_ip == d.host_ip


def test_a_second_daemon_holding_the_pidfile_lock_is_refused(kubedtn_daemon: DaemonHandle) -> None:
    """The pidfile names no live daemon (removed), yet its lock is held: still refused."""
    d = kubedtn_daemon
    d.pidfile.unlink()
    twin = subprocess.run(d.argv(), capture_output=True, text=True, timeout=60, check=False)
    assert twin.returncode == 1
    assert f"another kubedtn daemon holds {d.pidfile}.lock" in d.log()
    assert d.local().Status(pb.StatusQuery(), timeout=10).node_ip == d.host_ip


def test_remote_update_over_grpc_reaches_the_peer_daemon_and_unreachable_is_temporary(pki: Pki) -> None:
    with running_daemon(host_ip=DAEMON_IP, extra_args=Pki.args(pki.daemon)) as d:
        _remote_update_reaches(d, pki)


def _remote_update_reaches(d: DaemonHandle, pki: Pki) -> None:
    end = RemoteEnd(
        pod="r9",
        kube_ns="default",
        node_ip="127.0.0.1",
        uid=9,
        vni=5009,
        vtep=PEER_IP,
        endpoint=Endpoint(netns="/run/netns/kdtn-t-none", name="eth1"),
    )
    client = GrpcRemote(port=d.grpc_port, timeout=10, pem=Pki.pem(pki.peer))
    try:
        # the daemon answers; it makes ends only of pods the store records running there
        denied = "PERMISSION_DENIED: Remote: default/r9 link 9: no Topology default/r9 in the store"
        with pytest.raises(KubedtnError, match=re.escape(denied)):
            client.update(end)
        # The same through the batch call sent ahead: one answer per end, in the future.
        (error,) = client.start_update_many("127.0.0.1", [end]).result(timeout=10)
        assert isinstance(error, KubedtnError) and "link 9: no Topology default/r9" in str(error)
    finally:
        client.close()
    nobody = GrpcRemote(port=free_port(), timeout=5, pem=Pki.pem(pki.peer))
    try:
        with pytest.raises(TemporaryError, match="the daemon does not answer"):
            nobody.update(end)
        errors = nobody.start_update_many("127.0.0.1", [end, replace(end, uid=10)]).result(timeout=10)
        assert [type(e) for e in errors] == [TemporaryError, TemporaryError]
        assert "Remote.UpdateMany of 2 link end(s)" in str(errors[0])
    finally:
        nobody.close()


def test_remote_requests_the_store_does_not_back_are_refused_and_change_nothing(pool: NamespacePool) -> None:
    """Remote over TCP without TLS (--insecure-remote-tcp, as kube-dtn), as any host that
    reaches the port: each attack refused by what the store backs."""
    with running_daemon(extra_args=["--insecure-remote-tcp"]) as d:
        assert "--insecure-remote-tcp: Remote is served on TCP without authentication" in d.log()
        _store_backs_remote(d, pool)


def _store_backs_remote(d: DaemonHandle, pool: NamespacePool) -> None:
    with d.store() as store:
        load(store, pair())
    (ns,) = pool.make(1)
    assert d.local().SetupPod(pb.SetupPodQuery(name="r1", net_ns=path(ns)), timeout=30).response
    with d.store() as store:  # r2 recorded running on another node
        record_running(store, "r2", src_ip="198.51.100.2", net_ns="x")
    host_links, pod_links = sorted(links_by_name_here()), our_links(ns)
    good = pb.RemotePod(
        name="r1", kube_ns="default", net_ns=path(ns), intf_name="eth1", vni=5001, peer_vtep="198.51.100.2"
    )
    attacks = {
        "no Topology default/r9": replace_pb(good, name="r9"),
        "not running in /proc/1/ns/net": replace_pb(good, net_ns="/proc/1/ns/net"),
        "peer_vtep 192.0.2.66 is not the node default/r2 is recorded running on": replace_pb(
            good, peer_vtep="192.0.2.66"
        ),
        "vni 5002 is not the link's VNI (5001)": replace_pb(good, vni=5002, link_uid=1),
        "has no link with uid 2": replace_pb(good, vni=5002),
    }
    remote = d.remote()
    for why, attack in attacks.items():
        with pytest.raises(grpc.RpcError) as caught:
            remote.Update(attack, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, why
        assert why in (caught.value.details() or "")
    many = remote.UpdateMany(pb.RemotePods(pods=list(attacks.values())), timeout=10)
    assert [why in error for why, error in zip(attacks, many.errors, strict=True)] == [True] * len(attacks)
    own = f"/proc/{d.pid}/ns/net"
    gone = remote.DeleteMany(
        pb.RemotePods(
            pods=[
                replace_pb(good, intf_name="lo"),
                replace_pb(good, name="r9"),
                replace_pb(good, net_ns=own),
                replace_pb(good, net_ns="/etc/passwd"),
            ]
        ),
        timeout=10,
    )
    assert "intf_name 'lo' is reserved in a pod" in gone.errors[0]
    assert "no Topology default/r9" in gone.errors[1]
    assert f"net_ns {own} is the node's own network namespace" in gone.errors[2]
    assert "net_ns '/etc/passwd' is not a file in /run/netns" in gone.errors[3]
    assert sorted(links_by_name_here()) == host_links and our_links(ns) == pod_links
    assert d.local().Status(pb.StatusQuery(), timeout=10).pods_alive == 1


def links_by_name_here() -> list[str]:
    """The links of the namespace the daemon runs in (this process's)."""
    return list(links_by_name(""))


def replace_pb(msg: pb.RemotePod, **fields: object) -> pb.RemotePod:
    copy = pb.RemotePod()
    copy.CopyFrom(msg)
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


def test_the_plain_socket_answers_as_the_grpc_socket_does(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    """The CNI plugin's plain socket (kubedtn.cni.plainrpc) against gRPC, on one daemon: the
    same replies, byte for byte, and the same status for a failing call."""
    d = kubedtn_daemon
    a, _ = up_pair(d, pool)
    stub = d.local()
    plain = plainrpc.plain_socket_path(str(d.socket_path))
    calls: list[tuple[str, object]] = [
        ("CheckPod", pb.SetupPodQuery(name="r1", kube_ns="default", net_ns=path(a))),
        ("CheckPod", pb.SetupPodQuery(name="nobody", kube_ns="default", net_ns=path(a))),
        ("Get", pb.PodQuery(name="r2", kube_ns="default")),
    ]
    for method, request in calls:
        over_grpc = getattr(stub, method)(request, timeout=30)
        over_plain = plainrpc.call(plain, method, request.SerializeToString(), timeout_s=30)  # type: ignore[attr-defined]
        assert over_plain == over_grpc.SerializeToString(), method

    missing = pb.PodQuery(name="nobody", kube_ns="default")
    grpc_code = code_of(lambda: stub.Get(missing, timeout=30))
    with pytest.raises(plainrpc.CallFailed) as caught:
        plainrpc.call(plain, "Get", missing.SerializeToString(), timeout_s=30)
    assert caught.value.status == grpc_code.name == "NOT_FOUND"


def test_namespace_paths_outside_the_runtime_directories_or_of_the_node_are_refused(
    pool: NamespacePool, tmp_path: Path
) -> None:
    spare = tmp_path / "netns"
    spare.mkdir()
    os.mkfifo(spare / "fifo")
    os.mknod(spare / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    with running_daemon(extra_args=["--netns-dirs", f"/run/netns,{spare}"]) as d:
        with d.store() as store:
            load(store, pair())
        stub = d.local()
        host_links = sorted(links_by_name(""))
        for bad in ("/proc/1/ns/net", f"/proc/{d.pid}/ns/net", "/etc/passwd", "/run/netns/../../dev/zero"):
            with pytest.raises(grpc.RpcError) as caught:
                stub.SetupPod(pb.SetupPodQuery(name="r1", net_ns=bad), timeout=10)
            if bad == "/proc/1/ns/net" and not os.access(bad, os.R_OK):
                # in a container PID 1's namespace may not open at all: refused as no namespace
                assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                continue
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, bad
            assert f"default/r1: net_ns {bad!r}" in (caught.value.details() or "") or (
                f"default/r1: net_ns {bad} is the node's own network namespace"
                in (caught.value.details() or "")
            )
        # Allowed places, but a FIFO (opening it would block) and a device: refused at once
        for odd in (spare / "fifo", spare / "null"):
            with pytest.raises(grpc.RpcError) as caught:
                stub.SetupPod(pb.SetupPodQuery(name="r1", net_ns=str(odd)), timeout=10)
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, odd
        with pytest.raises(grpc.RpcError) as caught:
            stub.SetAlive(pb.Pod(name="r1", src_ip="10.0.0.1;x", net_ns="/proc/1/ns/net"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "default/r1: src_ip: '10.0.0.1;x' is not an IPv4 or IPv6 address" in (
            caught.value.details() or ""
        )
        assert sorted(links_by_name("")) == host_links
        # ... and the daemon still serves, with the locks of the links free
        a, b = pool.make(2)
        for name, ns in (("r1", a), ("r2", b)):
            assert stub.SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30).response
        assert our_links(a) == ["eth1"]


def test_a_poisoned_src_ip_in_the_store_is_one_pods_error_and_the_daemon_serves_on(
    kubedtn_daemon: DaemonHandle, pool: NamespacePool
) -> None:
    d = kubedtn_daemon
    with d.store() as store:
        load(store, pair())
        load(store, pair("s1", "s2", uid=2))
        record_running(store, "r2", src_ip="no-ip", net_ns="x")
    a, b, c = pool.make(3)
    results = (
        d.local()
        .SetupPods(
            pb.SetupPodsQuery(
                pods=[
                    pb.SetupPodQuery(name="r1", net_ns=path(a)),
                    pb.SetupPodQuery(name="s1", net_ns=path(b)),
                    pb.SetupPodQuery(name="s2", net_ns=path(c)),
                ]
            ),
            timeout=30,
        )
        .results
    )
    assert [(r.name, r.ok) for r in results] == [("r1", False), ("s1", True), ("s2", True)]
    assert "cannot reach default/r2 on node no-ip" in results[0].error
    assert our_links(b) == ["eth1"] and our_links(c) == ["eth1"]
    assert d.local().Status(pb.StatusQuery(), timeout=10).pods_alive == 3
