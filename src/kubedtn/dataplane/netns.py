"""Network namespaces: entering them per thread, opening sockets there, creating them in bulk.

Namespaces are named by the path of a namespace file: ``/run/netns/NAME`` (``ip netns``
and lab mode), ``/proc/PID/ns/net`` or a CNI_NETNS path. ``None`` means the namespace of
the calling thread (the "node" namespace of the daemon).

``setns()`` switches only the calling thread (Python threads are OS threads); every
switch here is undone in a ``finally`` before the function returns, so the thread always
ends up where it started. Sockets opened inside stay in that namespace after the
switch back, which is what ``open_route_socket`` relies on: we spend microseconds inside
a foreign namespace, not the whole exchange.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import stat
import struct
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from kubedtn.dataplane.errors import DataplaneError, NamespaceNotFoundError
from kubedtn.dataplane.netlink import RouteSocket

CLONE_NEWNET: Final = 0x40000000
NS_GET_NSTYPE: Final = 0xB703  # ioctl on a namespace file: its CLONE_NEW* type (Linux >= 4.11)
RUN_NETNS: Final = "/run/netns"

_MS_BIND: Final = 0x1000
_MS_REC: Final = 0x4000
_MS_SHARED: Final = 1 << 20
_MNT_DETACH: Final = 2

_SIOCGIFFLAGS: Final = 0x8913
_SIOCSIFFLAGS: Final = 0x8914
_IFF_UP: Final = 0x1
_IFREQ: Final = struct.Struct("16sH22x")  # struct ifreq: name, then ifr_flags (40 bytes on 64-bit)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

NsKey = tuple[int, int]
"""Identity of a namespace: (st_dev, st_ino) of its file; two paths may name one namespace."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def current_netns_fd() -> int:
    """A new fd of the calling thread's namespace (the caller closes it)."""
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _open_file(path: str) -> int:
    """An fd of ``path`` when it is a regular file (what namespace files look like), opened
    so that nothing else can hurt: never a FIFO (opening one blocks), a device (opening
    one acts) or a directory, never blocking, and not through a symbolic link at the last
    step — except ``/proc``'s own ``ns/net`` links, which must be followed.

    FileNotFoundError when there is none, another OSError for anything else."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: opening is what acts
        raise OSError(errno.EINVAL, "not a namespace file (not a regular file)")
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not path.startswith("/proc/"):
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
        os.close(fd)
        raise OSError(errno.EINVAL, "not a namespace file (not a regular file)")
    return fd


def open_netns(path: str) -> int:
    """An fd of the namespace file at path; NamespaceNotFoundError when there is none."""
    try:
        fd = _open_file(path)
    except FileNotFoundError:
        raise NamespaceNotFoundError(f"network namespace {path} does not exist") from None
    except OSError as e:
        raise NamespaceNotFoundError(
            f"{path} is not a network namespace ({e.strerror}); give a namespace file such as "
            f"{RUN_NETNS}/NAME or /proc/PID/ns/net"
        ) from None
    if not _is_netns_fd(fd):
        os.close(fd)
        raise NamespaceNotFoundError(
            f"{path} is not a network namespace (a leftover file, not a mounted namespace?)"
        )
    return fd


def netns_key(path: str) -> NsKey:
    """The identity of the network namespace at path (NamespaceNotFoundError as open_netns)."""
    fd = open_netns(path)
    try:
        return ns_key(fd)
    finally:
        os.close(fd)


def _is_netns_fd(fd: int) -> bool:
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except OSError:
        return False


def netns_path(name_or_path: str) -> str:
    """A namespace given as a name in /run/netns (as ``ip netns`` names them) or a path."""
    return name_or_path if "/" in name_or_path else f"{RUN_NETNS}/{name_or_path}"


def namespace_exists(path: str) -> bool:
    """True when path is a live network namespace file."""
    return bool(namespace_id(path))


def namespace_id(path: str) -> str:
    """The identity of the network namespace at path as ``"st_dev:st_ino"``; "" when path is
    not a live network namespace. A path a runtime reused for a new namespace gives another."""
    try:
        fd = _open_file(path)
    except OSError:
        return ""
    try:
        if not _is_netns_fd(fd):
            return ""
        dev, ino = ns_key(fd)
        return f"{dev}:{ino}"
    finally:
        os.close(fd)


def ns_key(fd: int) -> NsKey:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _go_home(home: int) -> None:
    try:
        _setns(home)
    except OSError as e:  # the thread would go on in the wrong namespace: stop
        raise SystemExit(f"kubedtn: cannot return a thread to its network namespace: {e}") from e


def enter_for_good(path: str) -> None:
    """Moves the calling thread into the namespace at path and leaves it there.

    For a process that lives in one namespace (``kubedtn daemon --netns``): call it first
    thing, before any other thread or socket exists, so that everything after inherits it.
    """
    fd = open_netns(path)
    try:
        _setns(fd)
    except OSError as e:
        raise DataplaneError(f"cannot enter network namespace {path}: {e.strerror}") from e
    finally:
        os.close(fd)


def open_route_socket(fd: int | None) -> RouteSocket:
    """A route socket in the namespace of fd (None: the calling thread's namespace)."""
    if fd is None:
        return RouteSocket()
    (sock,) = open_route_sockets([fd])
    return sock


def open_route_sockets(fds: Sequence[int]) -> list[RouteSocket]:
    """A route socket in the namespace of each fd, in order, from one trip through them:
    the thread goes from namespace to namespace and home once, instead of home after each
    (``open_route_socket``)."""
    sockets: list[RouteSocket] = []
    if not fds:
        return sockets
    home = current_netns_fd()
    try:
        try:
            for fd in fds:
                _setns(fd)
                sockets.append(RouteSocket())
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        finally:
            _go_home(home)
    finally:
        os.close(home)
    return sockets


# ---- bulk namespace creation, like `ip netns add` / `ip netns del` -------------------------

_run_dir_lock = threading.Lock()
_run_dirs_shared: set[str] = set()


def _make_run_dir_shared(run_dir: str) -> None:
    """Makes run_dir a shared mount point, as iproute2 does, so namespace mounts propagate
    into mount namespaces created later (containers started after the namespace)."""
    with _run_dir_lock:
        if run_dir in _run_dirs_shared:
            return
        os.makedirs(run_dir, mode=0o755, exist_ok=True)
        bdir = run_dir.encode()
        if _libc.mount(b"", bdir, b"none", _MS_SHARED | _MS_REC, None) != 0:
            code = ctypes.get_errno()
            if code != errno.EINVAL:
                raise DataplaneError(f"cannot make {run_dir} a shared mount: {os.strerror(code)}")
            # Not a mount point yet: bind it onto itself, then share it.
            _check(_libc.mount(bdir, bdir, b"none", _MS_BIND | _MS_REC, None), f"bind-mount {run_dir}")
            _check(_libc.mount(b"", bdir, b"none", _MS_SHARED | _MS_REC, None), f"share {run_dir}")
        _run_dirs_shared.add(run_dir)


def _loopback_up_here() -> None:
    """Brings ``lo`` up in the calling thread's namespace: one ioctl on a socket opened here
    (no netlink socket, no process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = _IFREQ.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))
        if not flags & _IFF_UP:
            fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def _create_some(paths: Sequence[str], loopback_up: bool) -> list[tuple[str, str]]:
    """Creates namespaces at paths from this thread; returns (path, error) for failures."""
    failures: list[tuple[str, str]] = []
    home = current_netns_fd()
    try:
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
            except OSError as e:
                failures.append((path, e.strerror or str(e)))
                continue
            os.close(fd)
            step = ""
            try:
                # unshare() gives this thread a fresh namespace; the bind mount keeps it alive
                # after the thread has gone back home.
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
                try:
                    _check(
                        _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", _MS_BIND, None),
                        "bind-mount",
                    )
                    step = "bring lo up"
                    if loopback_up:
                        _loopback_up_here()
                finally:
                    _go_home(home)
            except OSError as e:
                if step:  # mounted: the namespace exists, only lo failed
                    _libc.umount2(path.encode(), _MNT_DETACH)
                os.unlink(path)
                failures.append((path, f"{step + ': ' if step else ''}{e.strerror or e}"))
    finally:
        os.close(home)
    return failures


def create_namespaces(
    names: Iterable[str], *, run_dir: str = RUN_NETNS, threads: int | None = None, loopback_up: bool = False
) -> list[str]:
    """Creates network namespaces like ``ip netns add NAME`` and returns their paths.

    Namespace setup in the kernel runs in parallel across threads (it only takes the
    pernet lock for reading), so the work is spread over ``threads`` (default: CPUs).
    ``loopback_up``: also bring ``lo`` up in each, as a container runtime does for a
    sandbox (without it a pod cannot reach its own addresses); done while the creating
    thread is still inside the new namespace.
    Raises DataplaneError naming every name that could not be created (e.g. it exists);
    the others are created.
    """
    paths = [os.path.join(run_dir, n) for n in names]
    bad = [n for n in names if not n or "/" in n or n in (".", "..")]
    if bad:
        raise DataplaneError(f"not namespace names (no '/', not empty): {', '.join(map(repr, bad))}")
    if not paths:
        return []
    _make_run_dir_shared(run_dir)
    workers = max(1, min(threads or os.cpu_count() or 1, len(paths)))
    shares = [paths[i::workers] for i in range(workers)]
    if workers == 1:
        failures = _create_some(paths, loopback_up)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubedtn-netns") as pool:
            results = pool.map(lambda share: _create_some(share, loopback_up), shares)
            failures = [f for result in results for f in result]
    if failures:
        lines = "; ".join(f"{p}: {why}" for p, why in failures)
        raise DataplaneError(f"cannot create network namespaces: {lines}")
    return paths


def delete_namespaces(names: Iterable[str], *, run_dir: str = RUN_NETNS) -> None:
    """Deletes namespaces like ``ip netns del NAME``; a name already gone is no error.

    The kernel tears a namespace down (and its interfaces) asynchronously once its last
    user is gone; the name is free at once.
    """
    failures: list[str] = []
    for name in names:
        path = os.path.join(run_dir, name)
        bpath = path.encode()
        if _libc.umount2(bpath, _MNT_DETACH) != 0:
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOENT):  # not mounted / not there
                failures.append(f"{path}: {os.strerror(code)}")
                continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            failures.append(f"{path}: {e.strerror}")
    if failures:
        raise DataplaneError(f"cannot delete network namespaces: {'; '.join(failures)}")
