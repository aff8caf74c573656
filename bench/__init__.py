"""kubedtn's benchmarks: ``make bench`` or ``python -m bench [NAME...] [--runs N]``.

Every benchmark measures our way of doing something against a baseline measured in the
same run on the same machine (``ip -batch`` for links, ``python3 -c pass`` for start-up,
...) and prints one line per result, always in this form::

    bench <name>: <metric> ours=<x> baseline=<y> [<baseline name>] ratio=<x/y> (goal ratio <= <g>: met)

``make bench`` also writes every result, with the machine's description (kernel, Python,
CPUs), to bench-results/<time>.json and bench-results/latest.json (not committed).
Benchmarks report; they do not fail on a missed goal (tests never assert wall-clock).

Adding a benchmark: create ``bench/<topic>.py`` (every module in this package is loaded)
with a function decorated by ``@benchmark("<name>")`` that takes a ``Context`` and returns
an iterable of ``Result``::

    from bench import Context, Result, Skip, benchmark, timing

    @benchmark("veth-create")
    def veth_create(ctx: Context) -> list[Result]:
        \"\"\"1000 veth links: kubedtn's dataplane vs ip -batch.\"\"\"
        if os.geteuid() != 0:
            raise Skip("needs root")
        ours = ...      # links/s
        baseline = ...  # links/s with ip -batch
        return [Result("links/s", ours=ours, baseline=baseline, baseline_name="ip -batch",
                       goal=1.0, lower_is_better=False)]

Use ``timing`` for wall-clock measurements (time.perf_counter, warm-up, medians,
interleaved runs so drift hits both sides alike). Raise ``Skip(reason)`` when the machine
lacks what the benchmark needs; clean up everything you create (namespaces, links,
processes), also on failure, as tests do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Skip(Exception):  # noqa: N818 -- a signal like pytest.skip, not an error
    """Raised by a benchmark that cannot run here; the message says why."""


@dataclass(frozen=True)
class Context:
    """What every benchmark gets."""

    repo: Path
    executable: Path  # dist/kubedtn
    runs: int  # repetitions for timed loops (--runs)

    def require_executable(self) -> Path:
        if not self.executable.exists():
            raise Skip(f"{self.executable} is not built: run `make build`")
        return self.executable


@dataclass(frozen=True)
class Result:
    """One measured comparison: ours against a baseline, in the same unit."""

    metric: str  # what and in which unit: "warm start (ms)", "links/s"
    ours: float
    baseline: float
    baseline_name: str  # how the baseline was measured: "python3 -c pass", "ip -batch"
    goal: float | None = None  # the ratio ours/baseline we aim for
    lower_is_better: bool = True
    details: dict[str, float | str] = field(default_factory=dict)  # p90s, counts, ...

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.ratio <= self.goal if self.lower_is_better else self.ratio >= self.goal

    def line(self, name: str) -> str:
        text = (
            f"bench {name}: {self.metric} ours={_num(self.ours)} baseline={_num(self.baseline)} "
            f"[{self.baseline_name}] ratio={self.ratio:.2f}"
        )
        if self.goal is not None:
            sign = "<=" if self.lower_is_better else ">="
            text += f" (goal ratio {sign} {self.goal:g}: {'met' if self.met else 'NOT met'})"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "ours": self.ours,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "goal": self.goal,
            "lower_is_better": self.lower_is_better,
            "met": self.met,
            "details": dict(self.details),
        }


def _num(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


BenchmarkFn = Callable[[Context], Iterable[Result]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    fn: BenchmarkFn

    @property
    def summary(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register a benchmark under a unique name (its first docstring line describes it)."""

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in REGISTRY:
            modules = f"{REGISTRY[name].fn.__module__}, {fn.__module__}"
            raise ValueError(f"benchmark {name!r} is registered twice ({modules})")
        REGISTRY[name] = Benchmark(name, fn)
        return fn

    return register
