"""The namespaces one dataplane call works in: their fds, sockets and locks.

A ``Session`` opens each namespace once (paths naming the same namespace share it),
opens one route socket per namespace on first use (after ``setns`` in the calling
thread, which is switched straight back), and closes everything at the end.

``locked`` serialises calls of this process that touch the same namespaces (they
choose ifindexes from what they read), acquiring in a fixed order so two calls
never wait on each other crosswise.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.errors import DataplaneError
from kubedtn.dataplane.live import LiveInterface
from kubedtn.dataplane.netlink import Failure, NetlinkError, Request, RouteSocket
from kubedtn.dataplane.netns import (
    NsKey,
    current_netns_fd,
    ns_key,
    open_netns,
    open_route_socket,
    open_route_sockets,
)
from kubedtn.dataplane.qdisc import LiveQdisc

RUN_NETNS_PREFIX = "/run/netns/"


def ns_label(path: str | None) -> str:
    """A namespace as people name it: "r1" for /run/netns/r1, "node" for the current one."""
    if path is None:
        return "node"
    for prefix in (RUN_NETNS_PREFIX, "/var/run/netns/"):
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return path[len(prefix) :]
    return path


class _NsLock:
    """A lock object that can be held in a WeakValueDictionary (plain locks cannot)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()


_locks: weakref.WeakValueDictionary[NsKey, _NsLock] = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()


@contextlib.contextmanager
def locked(keys: Iterable[NsKey]) -> Iterator[None]:
    held: list[_NsLock] = []
    with _locks_guard:
        for key in sorted(set(keys)):
            lock = _locks.get(key)
            if lock is None:
                lock = _NsLock()
                _locks[key] = lock
            held.append(lock)
    taken: list[_NsLock] = []
    try:
        for lock in held:
            lock.lock.acquire()
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.lock.release()


@dataclass(frozen=True)
class Step:
    """A request plus what it is for: the link (index in the call) and words for errors."""

    request: Request
    link: int  # index of the link in the call; -1 when the step belongs to no link
    missing_ok: bool = False  # ENODEV/ENOENT mean "already done" (deletions)
    netem_hint: str | None = None  # the message when netem turns out not to exist
    tag: object = None  # whatever the caller needs to recognise the step by


class Session:
    def __init__(self) -> None:
        self._fds: dict[NsKey, int] = {}
        self.key_of: dict[str | None, NsKey] = {}
        self.labels: dict[NsKey, str] = {}
        self.paths: dict[NsKey, str | None] = {}
        self._sockets: dict[NsKey, RouteSocket] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        for fd in self._fds.values():
            os.close(fd)
        self._sockets.clear()
        self._fds.clear()

    def add(self, path: str | None) -> NsKey:
        """Opens the namespace at path (None: the calling thread's); NamespaceNotFoundError."""
        if path in self.key_of:
            return self.key_of[path]
        fd = current_netns_fd() if path is None else open_netns(path)
        key = ns_key(fd)
        if key in self._fds:
            os.close(fd)
        else:
            self._fds[key] = fd
            self.labels[key] = ns_label(path)
            self.paths[key] = path
        self.key_of[path] = key
        return key

    def fd(self, key: NsKey) -> int:
        return self._fds[key]

    def socket(self, key: NsKey) -> RouteSocket:
        sock = self._sockets.get(key)
        if sock is None:
            sock = open_route_socket(self._fds[key])
            self._sockets[key] = sock
        return sock

    def open_sockets(self) -> None:
        """A socket in every namespace added so far, opened in one trip through them
        (``socket`` opens one at a time, as needed)."""
        missing = [key for key in self._fds if key not in self._sockets]
        for key, sock in zip(missing, open_route_sockets([self._fds[k] for k in missing]), strict=True):
            self._sockets[key] = sock

    @property
    def changes(self) -> int:
        """Requests sent so far that may have changed the kernel's state."""
        return sum(s.sent_changes for s in self._sockets.values())

    # ---- reading ------------------------------------------------------------------------

    def _dump(self, key: NsKey, request: Request) -> list[memoryview]:
        try:
            return [m.body for m in self.socket(key).request(request)]
        except NetlinkError as e:
            raise DataplaneError(f"{self.labels[key]}: {request.what}: {e.strerror or e}") from e

    def read_links(self, key: NsKey, *, stats: bool = False) -> dict[str, LiveInterface]:
        label = self.paths[key] or self.labels[key]
        out: dict[str, LiveInterface] = {}
        for body in self._dump(key, rtnl.dump_links(stats=stats)):
            live = rtnl.parse_link(body, netns=label)
            out[live.name] = live
        return out

    def read_addresses(self, key: NsKey) -> dict[int, list[tuple[str, bool]]]:
        out: dict[int, list[tuple[str, bool]]] = {}
        for body in self._dump(key, rtnl.dump_addresses()):
            index, cidr, link_scope = rtnl.parse_address(body)
            out.setdefault(index, []).append((cidr, link_scope))
        return out

    def read_qdiscs(self, key: NsKey) -> dict[int, list[LiveQdisc]]:
        out: dict[int, list[LiveQdisc]] = {}
        for body in self._dump(key, rtnl.dump_qdiscs()):
            q = rtnl.parse_qdisc(body)
            out.setdefault(q.ifindex, []).append(q)
        return out

    def nsid(self, key: NsKey, other: NsKey) -> int | None:
        """The id namespace key uses for namespace other (None when it has none)."""
        request = rtnl.get_nsid(self._fds[other], what=f"namespace id of {self.labels[other]}")
        replies = self._dump(key, request)
        return rtnl.parse_nsid(replies[0]) if replies else None

    # ---- writing ------------------------------------------------------------------------

    def run(self, key: NsKey, steps: Sequence[Step]) -> list[tuple[Step, Failure]]:
        """Sends steps as one batch on key's socket; the failures that matter."""
        if not steps:
            return []
        try:
            failures = self.socket(key).execute([s.request for s in steps])
        except NetlinkError as e:
            raise DataplaneError(f"{self.labels[key]}: netlink batch failed: {e.strerror or e}") from e
        out: list[tuple[Step, Failure]] = []
        for f in failures:
            step = steps[f.index]
            if step.missing_ok and f.code in (errno.ENODEV, errno.ENOENT):
                continue
            out.append((step, f))
        return out

    def run_each(self, batches: Iterable[tuple[NsKey, list[Step]]]) -> list[tuple[Step, Failure]]:
        """run() of each batch in turn (``batches`` may be built as they are asked for)."""
        return [f for key, steps in batches for f in self.run(key, steps)]

    def run_as_built(
        self, batches: Iterable[tuple[NsKey, list[Step]]], *, threads: int
    ) -> list[tuple[Step, Failure]]:
        """run() of each batch on worker threads, each handed over as soon as it is built (so
        building the next overlaps sending this one); one batch per namespace at most.

        For settings of existing interfaces (addresses, qdiscs, link attributes): the kernel
        takes those for different namespaces partly in parallel, and one thread's parsing of
        acknowledgements overlaps another's kernel time (measured with `lab up`: four threads
        did best, see the commit that added this). Not for creations: those
        serialise on RTNL (two `ip -batch` halves at once take as long as one whole).
        """
        if threads <= 1:
            return self.run_each(batches)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kubedtn-nl") as pool:
            futures = []
            for key, steps in batches:
                if steps:
                    self.socket(key)  # opened in this thread: setns stays out of the workers
                    futures.append(pool.submit(self.run, key, steps))
            return [f for future in futures for f in future.result()]

    def run_parallel(self, batches: dict[NsKey, list[Step]], *, threads: int) -> list[tuple[Step, Failure]]:
        """run_as_built of batches built already; one batch is run in this thread.

        Worth it for deletions: the kernel waits for an RCU grace period after each
        unregister batch, outside its lock, and those waits overlap across threads.
        """
        keys = [k for k, steps in batches.items() if steps]
        return self.run_as_built(((k, batches[k]) for k in keys), threads=threads if len(keys) > 1 else 1)
