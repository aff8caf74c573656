"""Wall-clock helpers for benchmarks: warm-up, interleaved repetitions, medians."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# A kubelet-like PATH: what a container runtime execs plugins with on a Debian node.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Command:
    """A process to time: argv, its whole environment, its stdin."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes = b""

    def run(self) -> float:
        """Run once; the wall-clock seconds from spawn to exit. Raises if it fails."""
        start = time.perf_counter()
        proc = subprocess.run(
            list(self.argv), input=self.stdin, env=dict(self.env), capture_output=True, check=False
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            stderr = proc.stderr.decode()[-500:]
            raise RuntimeError(f"{' '.join(self.argv)} exited {proc.returncode}: {stderr}")
        return elapsed


def interleaved(
    samples: Mapping[str, Callable[[], float]], *, runs: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Call each sampler `warmup` times, then `runs` rounds of each in turn; the timings by name.

    Interleaving spreads machine noise (other load, frequency changes) over all sides.
    """
    for _ in range(warmup):
        for sample in samples.values():
            sample()
    times: dict[str, list[float]] = {name: [] for name in samples}
    for _ in range(runs):
        for name, sample in samples.items():
            times[name].append(sample())
    return times


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000


def percentile_ms(seconds: Sequence[float], pct: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


def environment() -> dict[str, str]:
    """The machine a result was measured on."""
    info = {
        "kernel": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "cpu_model": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
