"""Bulk namespace creation/deletion (like ``ip netns add/del``), and calls from many threads."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from kubedtn.dataplane import (
    DataplaneError,
    Endpoint,
    NetlinkDataplane,
    VethSpec,
    create_namespaces,
    delete_namespaces,
    namespace_exists,
)
from kubedtn.model import LinkProperties
from tests.support import oracle
from tests.support.netns import NamespacePool, path, sh, udp_echo, unique

pytestmark = pytest.mark.root


@pytest.fixture
def names() -> Iterator[list[str]]:
    made = [unique() for _ in range(12)]
    try:
        yield made
    finally:
        delete_namespaces(made)
        assert not any(os.path.exists(f"/run/netns/{n}") for n in made)


def test_create_namespaces_like_ip_netns_add(names: list[str]) -> None:
    paths = create_namespaces(names)

    assert paths == [f"/run/netns/{n}" for n in names]
    listed = sh(None, "ip", "netns", "list")
    assert all(n in listed for n in names)
    assert all(namespace_exists(p) for p in paths)
    inodes = {os.stat(p).st_ino for p in paths}
    assert len(inodes) == len(names)  # each one its own namespace
    assert os.stat("/proc/self/ns/net").st_ino not in inodes
    # usable by iproute2: a link inside one
    sh(names[0], "ip", "link", "add", "x0", "type", "veth", "peer", "name", "x1")
    assert set(oracle.links(names[0])) == {"lo", "x0", "x1"}
    # /run/netns is a shared mount point, as iproute2 makes it
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read().splitlines()
    run_netns = [line for line in mountinfo if line.split()[4] == "/run/netns"]
    assert run_netns and "shared:" in run_netns[-1]


def test_loopback_up_on_request(names: list[str]) -> None:
    create_namespaces(names[:4], loopback_up=True)
    create_namespaces(names[4:6])

    assert all(oracle.links(n)["lo"].up for n in names[:4])
    assert not any(oracle.links(n)["lo"].up for n in names[4:6])
    # lo works: a namespace reaches its own 127.0.0.1
    sh(None, "ip", "netns", "exec", names[0], "ping", "-c1", "-W1", "127.0.0.1")


def test_delete_namespaces_is_idempotent(names: list[str]) -> None:
    paths = create_namespaces(names[:3])
    delete_namespaces(names[:3])
    assert not any(namespace_exists(p) for p in paths)
    assert not any(os.path.exists(p) for p in paths)
    delete_namespaces(names[:3])  # already gone: fine


def test_existing_name_is_an_error_naming_it(names: list[str]) -> None:
    create_namespaces(names[:1])
    with pytest.raises(DataplaneError, match=f"/run/netns/{names[0]}: File exists"):
        create_namespaces(names[:2])
    assert namespace_exists(f"/run/netns/{names[1]}")  # the others were made


def test_namespace_exists_is_false_for_plain_files_and_missing_paths(tmp_path: object) -> None:
    assert not namespace_exists("/run/netns/kdtn-t-does-not-exist")
    assert not namespace_exists("/etc/hostname")
    assert namespace_exists("/proc/self/ns/net")


def test_calls_from_many_threads_at_once(pool: NamespacePool) -> None:
    """Threads apply links into shared and separate namespaces at the same time; every
    link ends up right and every thread stays in its own namespace."""
    hub, *pods = pool.make(6)
    dp = NetlinkDataplane()
    home = os.stat("/proc/self/ns/net").st_ino
    errors: list[BaseException] = []

    def work(i: int, pod: str) -> None:
        try:
            spec = VethSpec(
                uid=i,
                a=Endpoint(netns=path(hub), name=f"hub{i}", addresses=(f"10.{i}.0.1/24",)),
                b=Endpoint(
                    netns=path(pod),
                    name="eth1",
                    addresses=(f"10.{i}.0.2/24",),
                    properties=LinkProperties(rate_bps=(i + 1) * 10_000_000),
                ),
            )
            for _ in range(3):
                dp.apply([spec])
            assert os.stat("/proc/thread-self/ns/net").st_ino == home
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i, pod)) for i, pod in enumerate(pods)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    hub_links = oracle.links(hub)
    for i, pod in enumerate(pods):
        assert hub_links[f"hub{i}"].link == oracle.links(pod)["eth1"].index
        assert udp_echo(client_ns=hub, client_ip=f"10.{i}.0.1", server_ns=pod, server_ip=f"10.{i}.0.2") == 3


def test_teardown_leaves_nothing_behind(names: list[str]) -> None:
    """Namespaces, links with qdiscs, then removal of both: no interface, qdisc or namespace stays."""
    paths = create_namespaces(names[:4])
    dp = NetlinkDataplane()
    dp.apply(
        [
            VethSpec(
                uid=i,
                a=Endpoint(netns=paths[i], name="eth1", properties=LinkProperties(rate_bps=10_000_000)),
                b=Endpoint(
                    netns=paths[(i + 1) % 4], name="eth2", properties=LinkProperties(rate_bps=20_000_000)
                ),
            )
            for i in range(4)
        ]
    )
    assert all(len(oracle.links(n)) == 3 for n in names[:4])
    assert all({q.kind for q in oracle.qdiscs(n)} >= {"tbf"} for n in names[:4])

    dp.remove_owned(paths)

    for name in names[:4]:
        assert set(oracle.links(name)) == {"lo"}
        assert not {"tbf", "netem"} & {q.kind for q in oracle.qdiscs(name)}
    delete_namespaces(names[:4])
    listed = sh(None, "ip", "netns", "list")
    assert not any(n in listed for n in names[:4])
    assert not any(namespace_exists(p) for p in paths)
