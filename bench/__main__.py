"""python -m bench [NAME...] [--runs N] [--list] — see bench/__init__.py."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import bench
from bench import REGISTRY, Context, Skip, timing


def load_all() -> None:
    """Import every module of the package: importing registers its benchmarks."""
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name not in ("__main__", "timing"):
            importlib.import_module(f"bench.{module.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=30, help="repetitions of timed loops (default 30)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, default=bench.REPO / "bench-results", help="JSON output dir")
    args = parser.parse_args(argv)

    load_all()
    if args.list:
        for name, item in sorted(REGISTRY.items()):
            print(f"{name:28} {item.summary}")
        return 0
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")

    env = timing.environment()
    print("bench environment: " + " | ".join(f"{k}={v}" for k, v in env.items()), flush=True)
    ctx = Context(repo=bench.REPO, executable=bench.REPO / "dist" / "kubedtn", runs=args.runs)
    started = datetime.now(UTC).isoformat()
    entries: dict[str, dict[str, object]] = {}
    failed = 0
    for name in args.names or sorted(REGISTRY):
        entry: dict[str, object]
        start = time.perf_counter()
        try:
            results = list(REGISTRY[name].fn(ctx))
        except Skip as e:
            print(f"bench {name}: skipped ({e})", flush=True)
            entry = {"status": "skipped", "reason": str(e)}
        except Exception as e:
            failed += 1
            traceback.print_exc()
            print(f"bench {name}: FAILED ({type(e).__name__}: {e})", flush=True)
            entry = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
        else:
            for result in results:
                print(result.line(name), flush=True)
            entry = {"status": "ok", "results": [r.to_json() for r in results]}
        entry["seconds"] = round(time.perf_counter() - start, 2)
        entries[name] = entry
    write_summary(args.results, {"started": started, "environment": env, "benchmarks": entries})
    return 1 if failed else 0


def write_summary(directory: Path, summary: dict[str, object]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(summary, indent=2) + "\n"
    (directory / f"{stamp}.json").write_text(text)
    (directory / "latest.json").write_text(text)
    print(f"bench: results in {directory / (stamp + '.json')}")


if __name__ == "__main__":
    sys.exit(main())
