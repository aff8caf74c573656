"""The TCP/IP bypass: ``bypass.o``'s programs loaded, pinned and attached.

``Bypass.enable`` loads the object (or reuses what an earlier process pinned under the pin
directory, when it is this build's: ``pins.stale_reason``), attaches ``kubedtn_sk_msg``
to the socket map, then ``kubedtn_sockops`` to the cgroup: in that order, so no socket
enters the map before sends on it can be redirected. ``disable`` undoes it, also for an
earlier process: every program named ``kubedtn_sockops`` comes off the cgroup, the verdict
program off the pinned socket map (the two hold references to each other), and the pins
go. ``kubedtn_marker`` is loaded and pinned with the rest; attaching it to the interfaces of
links with properties (tc clsact egress, direct action) is the dataplane's job, with
``marker_program_fd``.
"""

from __future__ import annotations

import errno as errnos
import logging
import os
import struct
from pathlib import Path

from kubedtn.ebpf import objects, pins, syscall
from kubedtn.ebpf.bpffs import ensure_bpffs, filesystem_of
from kubedtn.ebpf.errors import BpfSyscallError, EbpfError, VerifierError
from kubedtn.ebpf.loader import Collection, load_collection
from kubedtn.ebpf.spec import ObjectSpec

log = logging.getLogger(__name__)

SOCKOPS = "kubedtn_sockops"
SK_MSG = "kubedtn_sk_msg"
MARKER = "kubedtn_marker"
SOCKET_MAP = "kubedtn_socks"
COUNTS_MAP = "kubedtn_counts"
NOTHING_PINNED = "nothing is pinned"
# Keys of kubedtn_counts (enum counter in bpf/bypass.c).
COUNTERS = ("redirected", "passed", "marked")


class Bypass:
    """The bypass of one cgroup, pinned under ``pin_dir``."""

    def __init__(
        self,
        *,
        pin_dir: Path = Path("/sys/fs/bpf/kubedtn"),
        cgroup: Path = Path("/sys/fs/cgroup/unified"),
        object_spec: ObjectSpec | None = None,
    ) -> None:
        """``object_spec``: another build of ``bypass.o`` (tests: an older build's pins)."""
        self.pin_dir = pin_dir
        self.cgroup = cgroup
        self.layout = pins.PinLayout(pin_dir)
        self._spec = object_spec
        self._live: Collection | None = None

    @property
    def spec(self) -> ObjectSpec:
        if self._spec is None:
            self._spec = objects.object_spec(objects.BYPASS)
        return self._spec

    # ---- the contract ----------------------------------------------------------------

    def enable(self) -> None:
        """Load (or reuse the pinned), attach; a second call changes nothing."""
        ensure_bpffs(self.pin_dir)
        self._open_cgroup().close()  # a wrong cgroup is said before anything is loaded
        live = self._collection()
        sockops, sk_msg, socket_map = live.programs[SOCKOPS], live.programs[SK_MSG], live.maps[SOCKET_MAP]
        # Attaching the verdict program again replaces it with itself: idempotent.
        syscall.prog_attach(
            target_fd=socket_map.fd,
            prog_fd=sk_msg.fd,
            attach_type=syscall.SK_MSG_VERDICT,
            what=f"{SK_MSG} to map {SOCKET_MAP} ({self.pin_dir})",
        )
        with self._open_cgroup() as cgroup_fd:
            ours = sockops.info().id
            attached = self._sockops_attached(cgroup_fd)
            for prog_id, fd in attached.items():
                if prog_id != ours:  # an older build's, left by a process that was killed
                    self._detach(cgroup_fd, prog_id, fd)
                os.close(fd)
            if ours not in attached:
                try:
                    syscall.prog_attach(
                        target_fd=cgroup_fd.fd,
                        prog_fd=sockops.fd,
                        attach_type=syscall.CGROUP_SOCK_OPS,
                        flags=syscall.F_ALLOW_MULTI,
                        what=f"{SOCKOPS} to cgroup {self.cgroup}",
                    )
                except BpfSyscallError as e:
                    if e.errno != errnos.EEXIST:  # another process attached the same program just now
                        raise
                log.info(
                    "ebpf bypass attached cgroup=%s pin_dir=%s sockops_id=%d", self.cgroup, self.pin_dir, ours
                )

    def disable(self) -> None:
        """Nothing of ours attached to the cgroup or pinned, whoever attached it."""
        if self.cgroup.exists():
            with self._open_cgroup() as cgroup_fd:
                for prog_id, fd in self._sockops_attached(cgroup_fd).items():
                    self._detach(cgroup_fd, prog_id, fd)
                    os.close(fd)
        self._detach_verdict()
        self.close()
        pins.unpin(self.layout)
        log.info("ebpf bypass disabled cgroup=%s pin_dir=%s", self.cgroup, self.pin_dir)

    def enabled(self) -> bool:
        """Our pinned sockops program is attached to the cgroup."""
        if not self.cgroup.exists():
            return False
        try:
            fd = syscall.obj_get(str(self.layout.program_path(SOCKOPS)))
        except BpfSyscallError:
            return False
        try:
            ours = syscall.prog_info(fd).id
        finally:
            os.close(fd)
        with self._open_cgroup() as cgroup_fd:
            ids = syscall.prog_query(
                target_fd=cgroup_fd.fd, attach_type=syscall.CGROUP_SOCK_OPS, what=f"cgroup {self.cgroup}"
            )
        return ours in ids

    def marker_program_fd(self) -> int:
        """The tc egress marker (attach with clsact, direct action); valid until close().
        Only once enabled (here or by an earlier process): never loads by itself."""
        live = self._existing()
        if live is None:
            raise EbpfError(
                f"the TCP/IP bypass of cgroup {self.cgroup} is not enabled (nothing of this build "
                f"pinned under {self.pin_dir}): enable() it before asking for the marker"
            )
        return live.programs[MARKER].fd

    def counters(self) -> dict[str, int]:
        """Sends redirected, sends passed to the stack, SYNs marked (summed over CPUs);
        zeros when nothing is loaded."""
        live = self._existing()
        if live is None:
            return dict.fromkeys(COUNTERS, 0)
        counts = live.maps[COUNTS_MAP]
        return {name: sum(counts.per_cpu_u64(struct.pack("<I", key))) for key, name in enumerate(COUNTERS)}

    def close(self) -> None:
        """Close our fds; attachments and pins stay."""
        if self._live is not None:
            self._live.close()
            self._live = None

    # ---- steps -----------------------------------------------------------------------

    def _existing(self) -> Collection | None:
        """What is loaded: ours, or this build's pins (then kept); None otherwise."""
        return self._pinned()[0]

    def _pinned(self) -> tuple[Collection | None, str]:
        """Ours or this build's pins, or None and why they cannot be used."""
        if self._live is not None:
            return self._live, ""
        if not self.layout.exists():
            return None, NOTHING_PINNED
        pinned, reason = pins.open_pinned(self.layout, self.spec)
        if reason is not None:
            pinned.close()
            return None, reason
        log.info("ebpf bypass reusing pinned objects pin_dir=%s", self.pin_dir)
        self._live = pinned
        return pinned, ""

    def _collection(self) -> Collection:
        """What is loaded, or this build loaded and pinned now (replacing another build's)."""
        ensure_bpffs(self.pin_dir)
        existing, reason = self._pinned()
        if existing is not None:
            return existing
        # (Not when nothing was pinned: what is there now is another process's fresh load.)
        if reason != NOTHING_PINNED:
            log.info("ebpf bypass replacing pinned objects pin_dir=%s reason=%r", self.pin_dir, reason)
            self.disable()
        try:
            live = load_collection(self.spec)
        except VerifierError as e:
            log.error("ebpf bypass: the verifier refused %s; its whole log:\n%s", e.program, e.log)
            raise
        try:
            self.layout.root.parent.mkdir(parents=True, exist_ok=True)
            pins.pin_collection(self.layout, live)
        except OSError as e:
            live.close()
            # Another process pinned its load first (two daemons starting at once): use it.
            if e.errno in (errnos.EEXIST, errnos.ENOTEMPTY) and (theirs := self._existing()) is not None:
                return theirs
            raise
        except BaseException:
            live.close()
            raise
        log.info("ebpf bypass loaded and pinned pin_dir=%s", self.pin_dir)
        self._live = live
        return live

    def _open_cgroup(self) -> _DirFd:
        point, fs_type = filesystem_of(self.cgroup.absolute())
        if fs_type != "cgroup2":
            raise EbpfError(
                f"cgroup {self.cgroup} is on {fs_type or 'no filesystem known'} (mounted at {point}), not "
                "cgroup2: the sockops program attaches to a cgroup v2 directory (/sys/fs/cgroup on a "
                "unified host, /sys/fs/cgroup/unified on a hybrid one)"
            )
        try:
            return _DirFd(self.cgroup)
        except OSError as e:
            raise EbpfError(f"cgroup {self.cgroup}: cannot open it ({e.strerror})") from e

    def _sockops_attached(self, cgroup_fd: _DirFd) -> dict[int, int]:
        """Programs named kubedtn_sockops attached to the cgroup: id -> an fd (caller closes)."""
        found: dict[int, int] = {}
        ids = syscall.prog_query(
            target_fd=cgroup_fd.fd, attach_type=syscall.CGROUP_SOCK_OPS, what=f"cgroup {self.cgroup}"
        )
        for prog_id in ids:
            try:
                fd = syscall.prog_fd_by_id(prog_id)
            except BpfSyscallError as e:
                if e.errno == errnos.ENOENT:  # detached meanwhile
                    continue
                raise
            if syscall.prog_info(fd).name == SOCKOPS:
                found[prog_id] = fd
            else:
                os.close(fd)
        return found

    def _detach(self, cgroup_fd: _DirFd, prog_id: int, fd: int) -> None:
        try:
            syscall.prog_detach(
                target_fd=cgroup_fd.fd,
                prog_fd=fd,
                attach_type=syscall.CGROUP_SOCK_OPS,
                what=f"{SOCKOPS} (id {prog_id}) from cgroup {self.cgroup}",
            )
        except BpfSyscallError as e:
            if e.errno != errnos.ENOENT:
                raise
        log.info("ebpf bypass detached cgroup=%s sockops_id=%d", self.cgroup, prog_id)

    def _detach_verdict(self) -> None:
        map_path, prog_path = self.layout.map_path(SOCKET_MAP), self.layout.program_path(SK_MSG)
        try:
            map_fd = syscall.obj_get(str(map_path))
        except BpfSyscallError:
            return
        try:
            prog_fd = syscall.obj_get(str(prog_path))
        except BpfSyscallError:
            os.close(map_fd)
            return
        try:
            syscall.prog_detach(
                target_fd=map_fd,
                prog_fd=prog_fd,
                attach_type=syscall.SK_MSG_VERDICT,
                what=f"{SK_MSG} from {map_path}",
            )
        except BpfSyscallError as e:
            if e.errno != errnos.ENOENT:
                raise
        finally:
            os.close(prog_fd)
            os.close(map_fd)


class _DirFd:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self) -> _DirFd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
