"""The eBPF TCP/IP bypass in the daemon: switched on or off at start, never fatal.

``TCPIP_BYPASS`` on: ``BypassSwitch.start`` loads the programs, or reuses what an earlier
run pinned under the pin directory, and attaches them to the cgroup (``kubedtn.ebpf``).
The dataplane is then given the marker program, so that every link end with properties
(or whose link says ``bypass: false``) is marked and never bypassed; the start-up
reconcile that follows marks the ends that exist already.

If that fails (a kernel without the program types, no bpffs, the verifier refusing a
program), the daemon goes on without the bypass: the reason is logged (the verifier's
whole log too), and ``Status`` reports it as the job ``bypass``. TCP then takes the
stack, which is slower but never wrong.

``TCPIP_BYPASS`` off: what an earlier run attached and pinned there is detached and
unpinned; the reconcile then takes the markers off the link ends (a dataplane without a
marker program clears them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from kubedtn.daemon.health import OFF, HealthReport, JobHealth
from kubedtn.daemon.logs import EventLog

log = EventLog(logging.getLogger(__name__))

JOB: Final = "bypass"
# Where a cgroup v2 hierarchy is mounted when /proc/self/mounts does not say (a host in
# hybrid mode mounts it here; kube-dtn's DaemonSet uses this path too).
FALLBACK_CGROUP: Final = Path("/sys/fs/cgroup/unified")
MOUNTS: Final = Path("/proc/self/mounts")


class BypassPrograms(Protocol):
    """What the daemon needs of ``kubedtn.ebpf.Bypass``."""

    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def marker_program_fd(self) -> int: ...
    def counters(self) -> dict[str, int]: ...
    def close(self) -> None: ...


BypassFactory = Callable[[Path, Path], BypassPrograms]  # (pin_dir, cgroup)


def cgroup2_root(mounts: str) -> Path | None:
    """The first cgroup v2 mount point in a mounts table (``/proc/self/mounts``'s text)."""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1].replace("\\040", " "))
    return None


def resolve_cgroup(given: Path | None) -> Path:
    """The cgroup v2 directory to attach to. None: the first cgroup v2 mount. A directory
    that is no cgroup v2 one but holds ``unified`` that is (the host's /sys/fs/cgroup of
    a host in hybrid mode, mounted into the DaemonSet's pod): that one."""
    if given is None:
        try:
            return cgroup2_root(MOUNTS.read_text()) or FALLBACK_CGROUP
        except OSError:
            return FALLBACK_CGROUP
    if not (given / "cgroup.controllers").exists() and (given / "unified" / "cgroup.controllers").exists():
        return given / "unified"
    return given


def real_bypass(pin_dir: Path, cgroup: Path) -> BypassPrograms:
    from kubedtn.ebpf.bypass import Bypass

    bypass: BypassPrograms = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    return bypass


class BypassSwitch:
    """The bypass of one daemon: ``start()`` once, then ``active``, ``counters()``,
    ``report()``; ``close()`` at the end (the pins keep it attached for the next run)."""

    def __init__(
        self,
        *,
        enabled: bool,
        pin_dir: Path,
        cgroup: Path | None = None,
        factory: BypassFactory = real_bypass,
    ) -> None:
        self.enabled = enabled
        self.pin_dir = pin_dir
        self.cgroup = resolve_cgroup(cgroup)
        self._factory = factory
        self.health = JobHealth(JOB)
        self.active: BypassPrograms | None = None

    def start(self) -> BypassPrograms | None:
        """Switches the bypass on or off as configured; the loaded programs, or None."""
        where: dict[str, object] = {"pin_dir": str(self.pin_dir), "cgroup": str(self.cgroup)}
        if not self.enabled and not self.pin_dir.exists():
            return None  # nothing pinned: no earlier run to clean up after
        try:
            bypass = self._factory(self.pin_dir, self.cgroup)
        except Exception as e:  # an optional feature: whatever fails, the daemon goes on
            self._failed(e, where)
            return None
        if not self.enabled:
            try:
                bypass.disable()
                log.info(
                    "TCP/IP bypass off; what an earlier run attached is removed", action="bypass", **where
                )
            except Exception as e:
                log.warning("TCP/IP bypass off, but removing an earlier run's failed", error=e, **where)
                self.health.failed(f"removing an earlier run's bypass from {self.pin_dir}: {e}")
            finally:
                bypass.close()
            return None
        try:
            bypass.enable()
        except Exception as e:
            bypass.close()
            self._failed(e, where)
            return None
        self.active = bypass
        log.info("TCP/IP bypass on", action="bypass", **where)
        return bypass

    def _failed(self, error: Exception, where: dict[str, object]) -> None:
        full = getattr(error, "log", None)  # a verifier error carries the kernel's whole log
        if isinstance(full, str) and full:
            log.error("the verifier's log", action="bypass", log=full)
        log.error(
            "TCP/IP bypass cannot be loaded; continuing without it",
            action="bypass",
            error=error,
            pin_dir=where["pin_dir"],
            cgroup=where["cgroup"],
        )
        self.health.failed(
            f"cannot load the TCP/IP bypass ({', '.join(f'{k} {v}' for k, v in where.items())}): {error}"
        )

    def counters(self) -> dict[str, int] | None:
        """The programs' counters (redirected, passed, marked); None when the bypass is not on."""
        return None if self.active is None else self.active.counters()

    def report(self) -> HealthReport:
        report = self.health.report()
        if report.failures == 0 and self.active is None:
            return HealthReport(JOB, OFF, "", 0)
        return report

    def close(self) -> None:
        if self.active is not None:
            self.active.close()
            self.active = None
