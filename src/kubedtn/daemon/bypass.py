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
from pathlib import Path
from typing import Final, Protocol

from kubedtn.daemon.health import HealthReport, JobHealth
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
    # Imported here: a daemon without the bypass (and nothing pinned) never loads the ELF
    # reader and its pyelftools.
    from kubedtn.ebpf.bypass import Bypass

    bypass: BypassPrograms = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    return bypass


class BypassSwitch:
    """The bypass of one daemon: ``start()`` once, then ``active``, ``counters()``,
    ``report()``; ``close()`` at the end (the pins keep it attached for the next run)."""

    def __init__(self, *, enabled: bool, pin_dir: Path, cgroup: Path | None = None) -> None:
        self.enabled = enabled
        self.pin_dir = pin_dir
        self.cgroup = resolve_cgroup(cgroup)
        self.health = JobHealth(JOB)
        self.active: BypassPrograms | None = None

    def start(self) -> BypassPrograms | None:
        """Switches the bypass on or off as configured; the loaded programs, or None."""
        if not self.enabled and not self.pin_dir.exists():
            return None  # nothing pinned: no earlier run to clean up after
        # An optional feature: whatever fails here, the daemon goes on without it.
        try:
            bypass = real_bypass(self.pin_dir, self.cgroup)
        except Exception as e:
            self._failed(e)
            return None
        if not self.enabled:
            try:
                bypass.disable()
                log.info("TCP/IP bypass off; what an earlier run attached is removed", **self._where())
            except Exception as e:
                log.warning(
                    "TCP/IP bypass off, but removing an earlier run's failed", error=e, **self._where()
                )
                self.health.failed(f"removing an earlier run's bypass from {self.pin_dir}: {e}")
            finally:
                bypass.close()
            return None
        try:
            bypass.enable()
        except Exception as e:
            bypass.close()
            self._failed(e)  # (the loader logged a verifier's whole log already)
            return None
        self.active = bypass
        log.info("TCP/IP bypass on", **self._where())
        return bypass

    def _where(self) -> dict[str, object]:
        return {"action": "bypass", "pin_dir": str(self.pin_dir), "cgroup": str(self.cgroup)}

    def _failed(self, error: Exception) -> None:
        log.warning("TCP/IP bypass cannot be loaded; continuing without it", error=error, **self._where())
        self.health.failed(
            f"cannot load the TCP/IP bypass (pin_dir {self.pin_dir}, cgroup {self.cgroup}): {error}"
        )

    def counters(self) -> dict[str, int] | None:
        """The programs' counters (redirected, passed, marked); None when the bypass is not on."""
        return None if self.active is None else self.active.counters()

    def report(self) -> HealthReport | None:
        """For Status: the job's health while the bypass is asked for or something failed
        (switched off and nothing to clean up, it is no job)."""
        report = self.health.report()
        return report if self.enabled or report.failures else None

    def close(self) -> None:
        if self.active is not None:
            self.active.close()
            self.active = None
