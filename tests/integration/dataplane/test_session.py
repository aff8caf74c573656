"""Session runners: batches sent on worker threads report exactly what run_each would."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

import pytest

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.netns import open_route_sockets
from kubedtn.dataplane.session import Session, Step
from tests.support import oracle
from tests.support.netns import NamespacePool, path, sh

pytestmark = pytest.mark.root


@pytest.mark.parametrize("threads", [1, 4])
def test_run_as_built_applies_every_batch_and_reports_failures(pool: NamespacePool, threads: int) -> None:
    names = pool.make(6)
    for name in names:
        sh(name, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    built: list[str] = []

    with Session() as session:
        keys = [session.add(path(n)) for n in names]
        index = {n: oracle.links(n)["d0"].index for n in names}

        def batches() -> Iterator[tuple[tuple[int, int], list[Step]]]:
            for i, (name, key) in enumerate(zip(names, keys, strict=True)):
                built.append(name)
                steps = [Step(rtnl.add_address(index[name], f"10.9.{i}.1/24", what=f"address in {name}"), i)]
                if i == 2:  # an interface that is not there: this step fails, the others stand
                    steps.append(Step(rtnl.add_address(999, "10.9.99.1/24", what="address on nothing"), 99))
                yield key, steps

        failures = session.run_as_built(batches(), threads=threads)

    assert built == names  # every batch was built (lazily) and handed over
    assert [(step.link, failure.code) for step, failure in failures] == [(99, errno.ENODEV)]
    for i, name in enumerate(names):
        assert oracle.addresses(name, "d0") == {f"10.9.{i}.1/24"}


def test_open_sockets_puts_one_socket_in_each_namespace_and_comes_home(pool: NamespacePool) -> None:
    names = pool.make(3)
    for i, name in enumerate(names):  # an interface only this namespace has
        sh(name, "ip", "link", "add", f"only{i}", "type", "veth", "peer", "name", f"peer{i}")
    home = os.stat("/proc/thread-self/ns/net").st_ino

    with Session() as session:
        keys = [session.add(path(n)) for n in names]
        session.open_sockets()
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
        for i, key in enumerate(keys):
            assert {"only" + str(i), "peer" + str(i)} <= set(session.read_links(key))
            assert not any(f"only{j}" in session.read_links(key) for j in range(3) if j != i)
        session.open_sockets()  # opened already: kept, nothing opened twice
        assert all(session.socket(k) is session.socket(k) for k in keys)


def test_open_route_sockets_comes_home_when_a_namespace_cannot_be_entered(pool: NamespacePool) -> None:
    (name,) = pool.make(1)
    home = os.stat("/proc/thread-self/ns/net").st_ino
    fd = os.open(path(name), os.O_RDONLY)
    not_a_namespace = os.open("/", os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="setns"):
            open_route_sockets([fd, not_a_namespace])
    finally:
        os.close(fd)
        os.close(not_a_namespace)
    assert os.stat("/proc/thread-self/ns/net").st_ino == home
