"""Remote over mutual TLS against a running daemon: who may call, and for which node.

The daemon serves Remote on TCP with ``--tls-*`` (its certificate names 127.0.0.1, where
the tests dial it). Callers: no certificate, a certificate of another CA, a node of the
cluster CA asking for another node's ends, and the peer node itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest

from kubedtn.daemon.convert import remote_from_pb
from kubedtn.daemon.remote import GrpcRemote
from kubedtn.errors import TemporaryError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.integration.daemon.topologies import load, pair, record_running
from tests.support.daemon import DaemonHandle, running_daemon
from tests.support.netns import NamespacePool, ip_json, path
from tests.support.pki import DAEMON_IP, OTHER_PEER_IP, PEER_IP, Pki, pki

pytestmark = pytest.mark.root
__all__ = ["pki"]  # a fixture

UID = 201  # VNI 5201: the far end is a VXLAN on the host's loopback, unlike other tests' VNIs
VNI = 5000 + UID


@pytest.fixture
def tls_daemon(pki: Pki) -> Iterator[DaemonHandle]:
    # HOST_IP 127.0.0.1: the underlay is lo, so the far end's VXLAN can be made here
    with running_daemon(host_ip=DAEMON_IP, extra_args=Pki.args(pki.daemon)) as d:
        yield d


def r1_up_with_r2_on_the_peer(d: DaemonHandle, pool: NamespacePool) -> str:
    """r1 set up here in a new namespace, r2 recorded running on PEER_IP; r1's namespace."""
    with d.store() as store:
        load(store, pair(uid=UID))
    (ns,) = pool.make(1)
    assert d.local().SetupPod(pb.SetupPodQuery(name="r1", net_ns=path(ns)), timeout=30).response
    with d.store() as store:
        record_running(store, "r2", src_ip=PEER_IP, net_ns="/run/netns/elsewhere")
    return ns


def far_end(ns: str, *, vtep: str = PEER_IP) -> pb.RemotePod:
    return pb.RemotePod(
        name="r1", kube_ns="default", net_ns=path(ns), intf_name="eth1", vni=VNI, link_uid=UID, peer_vtep=vtep
    )


def vxlans(ns: str) -> dict[str, int]:
    """The VXLAN interfaces of ``ns`` and their VNIs."""
    found = {}
    for link in ip_json(ns, "link", "show"):
        info: Any = link.get("linkinfo", {})
        if info.get("info_kind") == "vxlan":
            found[str(link["ifname"])] = int(info["info_data"]["id"])
    return found


def test_callers_without_a_certificate_of_the_cluster_ca_are_refused_at_the_handshake(
    tls_daemon: DaemonHandle, pki: Pki, pool: NamespacePool
) -> None:
    d = tls_daemon
    ns = r1_up_with_r2_on_the_peer(d, pool)
    callers = {"no TLS": None, "no certificate": grpc.ssl_channel_credentials(pki.daemon.ca.read_bytes())}
    callers["another CA"] = Pki.credentials(pki.foreign)
    for who, credentials in callers.items():
        with pytest.raises(grpc.RpcError) as caught:
            stub = d.remote() if credentials is None else d.remote(credentials)
            stub.UpdateMany(pb.RemotePods(pods=[far_end(ns)]), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, who  # no call reached the servicer
    assert vxlans(ns) == {}


def test_a_node_may_ask_only_for_ends_toward_itself(
    tls_daemon: DaemonHandle, pki: Pki, pool: NamespacePool
) -> None:
    d = tls_daemon
    ns = r1_up_with_r2_on_the_peer(d, pool)
    impostor = d.remote(Pki.credentials(pki.other_peer))  # a node of the cluster, not r2's
    denied = f"peer_vtep '{PEER_IP}' is not an IP of the caller's certificate (other ({OTHER_PEER_IP}))"
    with pytest.raises(grpc.RpcError) as caught:
        impostor.Update(far_end(ns), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied in (caught.value.details() or "")
    many = impostor.UpdateMany(pb.RemotePods(pods=[far_end(ns)]), timeout=10)
    assert denied in many.errors[0]
    assert vxlans(ns) == {}

    # the peer itself: its end is made; the impostor cannot take it back, the peer can
    peer = d.remote(Pki.credentials(pki.peer))
    assert list(peer.UpdateMany(pb.RemotePods(pods=[far_end(ns)]), timeout=10).errors) == [""]
    assert vxlans(ns) == {"eth1": VNI}
    gone = impostor.DeleteMany(pb.RemotePods(pods=[far_end(ns)]), timeout=10)
    assert denied in gone.errors[0]
    assert vxlans(ns) == {"eth1": VNI}
    assert list(peer.DeleteMany(pb.RemotePods(pods=[far_end(ns)]), timeout=10).errors) == [""]
    assert vxlans(ns) == {}


def test_the_daemons_own_client_speaks_mutual_tls_and_checks_whom_it_dialled(
    tls_daemon: DaemonHandle, pki: Pki, pool: NamespacePool
) -> None:
    """GrpcRemote with the peer's files, as the peer's daemon calls this one; and the same
    client refuses a daemon whose certificate names another IP than the one it dialled."""
    d = tls_daemon
    ns = r1_up_with_r2_on_the_peer(d, pool)
    end = remote_from_pb(far_end(ns), node_ip=DAEMON_IP)
    client = GrpcRemote(port=d.grpc_port, timeout=10, pem=Pki.pem(pki.peer))
    try:
        assert client.update_many(DAEMON_IP, [end]) == [None]
        assert vxlans(ns) == {"eth1": VNI}
    finally:
        client.close()
    # a daemon of the cluster, at 127.0.0.1 with the certificate of the node at OTHER_PEER_IP
    with running_daemon(host_ip=OTHER_PEER_IP, extra_args=Pki.args(pki.other_peer)) as other:
        client = GrpcRemote(port=other.grpc_port, timeout=10, pem=Pki.pem(pki.peer))
        try:
            (error,) = client.delete_many(DAEMON_IP, [end])
        finally:
            client.close()
    assert isinstance(error, TemporaryError) and "Hostname Verification Check failed" in str(error)
    assert vxlans(ns) == {"eth1": VNI}


def test_a_daemon_with_wrong_tls_files_refuses_to_start_and_says_which(pki: Pki) -> None:
    wrong = {
        f"--tls-key {pki.peer.key}: KEY_VALUES_MISMATCH": (DAEMON_IP, replace(pki.daemon, key=pki.peer.key)),
        f"--tls-cert {pki.foreign.cert}: not signed by the CA of --tls-ca": (PEER_IP, pki.foreign),
        f"names IP {DAEMON_IP}, not this node's HOST_IP {PEER_IP}: peers dial": (PEER_IP, pki.daemon),
    }
    for why, (host_ip, files) in wrong.items():
        with running_daemon(host_ip=host_ip, extra_args=Pki.args(files), start=False) as d:
            run = subprocess.run(d.argv(), capture_output=True, text=True, timeout=60, check=False)
            assert run.returncode == 1, why
            assert why in d.log()
            assert not d.pidfile.exists()
