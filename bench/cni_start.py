"""Start-up of the CNI plugin: the runtime execs dist/kubedtn for every pod and command."""

from __future__ import annotations

import json
import shutil
import subprocess

from bench import Context, Result, Skip, benchmark, timing


@benchmark("cni-version-start")
def cni_version_start(ctx: Context) -> list[Result]:
    """Warm start of `CNI_COMMAND=VERSION dist/kubedtn` vs `python3 -c pass` (and shiv's own bootstrap)."""
    exe = ctx.require_executable()
    python3 = shutil.which("python3", path=timing.SYSTEM_PATH)
    if python3 is None:
        raise Skip(f"no python3 on {timing.SYSTEM_PATH}")
    # As kubelet runs a plugin: system PATH (so the shebang finds the node's python3), no HOME.
    env = {"PATH": timing.SYSTEM_PATH, "CNI_COMMAND": "VERSION"}
    stdin = b'{"cniVersion":"1.0.0"}'
    ours = timing.Command([str(exe)], env, stdin)
    # The same archive through shiv's stock bootstrap (what the launcher skips once extracted).
    shiv = timing.Command([str(exe)], {**env, "SHIV_ENTRY_POINT": "kubedtn.main:main"}, stdin)
    baseline = timing.Command([python3, "-c", "pass"], env, stdin)

    # The first call may extract the archive (seconds): do it, and check the answer is right.
    check = subprocess.run([str(exe)], input=stdin, env=env, capture_output=True, check=False)
    if check.returncode != 0 or json.loads(check.stdout).get("cniVersion") != "1.0.0":
        raise RuntimeError(f"VERSION failed: {check.stdout!r} {check.stderr!r}")

    times = timing.interleaved({"ours": ours.run, "shiv": shiv.run, "baseline": baseline.run}, runs=ctx.runs)
    ms = {name: timing.median_ms(values) for name, values in times.items()}
    details: dict[str, float | str] = {
        "runs": ctx.runs,
        "python3": python3,
        **{f"p90_{name}_ms": round(timing.percentile_ms(values, 90), 2) for name, values in times.items()},
    }
    return [
        # ~5x: python start-up plus reading the archive's index (~3800 entries) and json.
        Result("warm start (ms)", ms["ours"], ms["baseline"], "python3 -c pass", goal=5.0, details=details),
        Result("warm start (ms)", ms["ours"], ms["shiv"], "same archive, shiv's bootstrap", goal=1.0),
    ]
