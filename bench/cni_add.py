"""CNI ADD latency: kubedtn exec'd as a runtime execs it, against Debian's bridge plugin.

Two benchmarks, each with Debian's ``bridge`` ADD (host-local IPAM, a veth into a fresh
namespace) timed in the same interleaved rounds as the baseline:

- ``cni-add-passthrough``: ADD of a pod outside every topology (prevResult passed on),
  as ``install_cni`` installs kubedtn (launcher mode: ``bin/kubedtn`` runs the extracted
  archive), the same on the portable Python runtime (hack/portable-python.sh, as the
  DaemonSet installs it: when patchelf is there), and as the zipapp ``dist/kubedtn``
  exec'd directly. Goal: <= 2x bridge.
- ``cni-add-topology``: ADD of a topology pod with 5 links whose peers are up, so the
  daemon (``dist/kubedtn daemon``, its own socket/state/store) really makes 5 veth pairs
  with addresses; DEL between runs (not timed). Goal: <= 4x bridge's ADD of one veth.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bench import REPO, Context, Result, Skip, benchmark, timing
from kubedtn.lab import daemonproc
from kubedtn.lab.names import LabPaths

BRIDGE_PLUGIN_DIR = "/usr/lib/cni"
KUBE_NS = "bench"
PEERS = 5


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, check=False, timeout=120, **kwargs)


def _check(proc: subprocess.CompletedProcess[bytes], what: str) -> bytes:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} exited {proc.returncode}: {proc.stdout[-400:]!r} {proc.stderr[-400:]!r}")
    return proc.stdout


class Plugin:
    """One CNI plugin executable and how to call it (env + stdin), timing each call."""

    def __init__(self, executable: str, base_env: Mapping[str, str]) -> None:
        self.executable = executable
        self.base_env = dict(base_env)

    def call(self, command: str, config: Mapping[str, Any], **env: str) -> tuple[float, bytes]:
        full_env = {**self.base_env, "CNI_COMMAND": command, **env}
        start = time.perf_counter()
        proc = _run([self.executable], input=json.dumps(config).encode(), env=full_env)
        elapsed = time.perf_counter() - start
        return elapsed, _check(proc, f"{self.executable} {command}")


@contextlib.contextmanager
def _namespaces(count: int, prefix: str) -> Iterator[list[str]]:
    names = [f"{prefix}-{i}" for i in range(count)]
    try:
        for name in names:
            _check(_run(["ip", "netns", "add", name]), f"ip netns add {name}")
        yield names
    finally:
        for name in names:
            _run(["ip", "netns", "del", name])


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    # Short: unix socket paths must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="kdtn-b-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class BridgeBaseline:
    """Debian's bridge ADD into a namespace (timed), then its DEL (not timed)."""

    def __init__(self, work: Path, netns: str, tag: str) -> None:
        self.bridge_name = f"kdb{tag[:8]}"
        self.config = {
            "cniVersion": "1.0.0",
            "name": f"bench-{tag}",
            "type": "bridge",
            "bridge": self.bridge_name,
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": "10.251.0.0/24", "dataDir": str(work / "ipam")},
        }
        self.env = {
            "CNI_CONTAINERID": f"bench-{tag}",
            "CNI_NETNS": f"/run/netns/{netns}",
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={KUBE_NS};K8S_POD_NAME=other",
        }
        self.plugin = Plugin(
            os.path.join(BRIDGE_PLUGIN_DIR, "bridge"),
            {"PATH": timing.SYSTEM_PATH, "CNI_PATH": BRIDGE_PLUGIN_DIR},
        )

    def add(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.plugin.call("ADD", self.config, **self.env)[1])
        return result

    def sample(self) -> float:
        elapsed, _ = self.plugin.call("ADD", self.config, **self.env)
        self.plugin.call("DEL", self.config, **self.env)
        return elapsed

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.plugin.call("DEL", self.config, **self.env)
        _run(["ip", "link", "del", self.bridge_name])


@contextlib.contextmanager
def _bridge(work: Path, netns: str, tag: str) -> Iterator[BridgeBaseline]:
    baseline = BridgeBaseline(work, netns, tag)
    try:
        yield baseline
    finally:
        baseline.cleanup()


@contextlib.contextmanager
def _installed(
    exe: Path, work: Path, plugin_options: Mapping[str, Any], *, python_runtime: Path | None = None
) -> Iterator[str]:
    """kubedtn installed as install_cni installs it (launcher mode) into work/; its plugin.
    With `python_runtime` (a runtime portable-python.sh built), the plugin runs on it."""
    from kubedtn.cni.install import (
        ARCHIVE_NAME,
        extracted_site_packages,
        install_cni,
        uninstall_cni,
        zipapp_environment,
    )

    conf = work / "net.d"
    conf.mkdir(parents=True)
    (conf / "10-bridge.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "b", "plugins": [{"type": "bridge"}]})
    )
    # The archive's unpacked copy, removed after unless it was there before.
    environment = zipapp_environment(str(exe))
    archive = str(work / "bin" / ARCHIVE_NAME)
    site_packages = None if environment is None else extracted_site_packages(environment, archive=archive)
    existed = site_packages is not None and os.path.isdir(os.path.dirname(site_packages))
    report = install_cni(
        executable=exe,
        bin_dir=str(work / "bin"),
        conf_dir=str(conf),
        state_dir=str(work / "install-state"),
        plugin_options=plugin_options,
        python_runtime=python_runtime,
    )
    try:
        if report.warnings:
            raise RuntimeError("; ".join(report.warnings))
        yield report.plugin
    finally:
        uninstall_cni(state_dir=str(work / "install-state"))
        if report.site_packages and not existed:
            shutil.rmtree(os.path.dirname(report.site_packages), ignore_errors=True)


@contextlib.contextmanager
def _portable_python(work: Path) -> Iterator[Path | None]:
    """hack/portable-python.sh built into work/ (None without patchelf)."""
    if shutil.which("patchelf") is None:
        yield None
        return
    dest = work / "portable-python"
    _check(_run([str(REPO / "hack" / "portable-python.sh"), str(dest)]), "hack/portable-python.sh")
    yield dest


def _require_root_and_bridge() -> None:
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, the bridge plugin)")
    if not os.access(os.path.join(BRIDGE_PLUGIN_DIR, "bridge"), os.X_OK):
        raise Skip(
            f"no Debian bridge plugin in {BRIDGE_PLUGIN_DIR} (apt-get install containernetworking-plugins)"
        )


def _kubedtn_env(netns: str, pod: str, log: Path) -> dict[str, str]:
    return {
        "CNI_CONTAINERID": f"c-{pod}",
        "CNI_NETNS": f"/run/netns/{netns}",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={KUBE_NS};K8S_POD_NAME={pod};K8S_POD_UID=u-{pod}",
        "KUBEDTN_CNI_LOG": str(log),
    }


def _stats(times: Mapping[str, list[float]], runs: int) -> dict[str, float | str]:
    details: dict[str, float | str] = {"runs": runs}
    for name, values in times.items():
        details[f"p90_{name}_ms"] = round(timing.percentile_ms(values, 90), 2)
    return details


@benchmark("cni-add-passthrough")
def cni_add_passthrough(ctx: Context) -> list[Result]:
    """ADD of a pod outside every topology (installed launcher and zipapp) vs Debian bridge's ADD."""
    exe = ctx.require_executable()
    _require_root_and_bridge()
    tag = uuid.uuid4().hex[:8]
    with _workdir() as work, _namespaces(1, f"kdtnb-{tag}") as (netns,), _bridge(work, netns, tag) as bridge:
        pod_list = work / "topology-pods.json"
        pod_list.write_text(json.dumps({"pods": [f"{KUBE_NS}/hub"]}))
        options = {"podList": str(pod_list), "daemonSocket": str(work / "no-daemon.sock")}
        prev = bridge.add()  # a real primary result to pass on
        config = {
            "cniVersion": "1.0.0",
            "name": bridge.config["name"],
            "type": "kubedtn",
            **options,
            "prevResult": prev,
        }
        env = {"PATH": timing.SYSTEM_PATH, "CNI_PATH": str(exe.parent)}
        pod_env = _kubedtn_env(netns, "other", work / "cni.log")
        plugins = {"zipapp": Plugin(str(exe), env)}
        with (
            _portable_python(work) as runtime,
            _installed(exe, work, options) as plugin_path,
            _installed(exe, work / "rt", options, python_runtime=runtime) as runtime_plugin_path,
        ):
            plugins["installed"] = Plugin(plugin_path, env)
            if runtime is not None:
                plugins["runtime"] = Plugin(runtime_plugin_path, env)
            for plugin in plugins.values():
                _, out = plugin.call("ADD", config, **pod_env)
                if json.loads(out) != prev:
                    raise RuntimeError(f"{plugin.executable}: ADD did not pass prevResult through: {out!r}")
            bridge.cleanup()  # the baseline's rounds make their own

            def sample(plugin: Plugin) -> Callable[[], float]:
                return lambda: plugin.call("ADD", config, **pod_env)[0]

            samples = {name: sample(plugin) for name, plugin in plugins.items()}
            times = timing.interleaved({**samples, "bridge": bridge.sample}, runs=ctx.runs)
    ms = {name: timing.median_ms(values) for name, values in times.items()}
    details = _stats(times, ctx.runs)
    return [
        Result(
            "ADD p50 (ms), pod in no topology, as installed",
            ms["installed"],
            ms["bridge"],
            "Debian bridge ADD",
            goal=2.0,
            details=details,
        ),
        *(
            [
                Result(
                    "ADD p50 (ms), pod in no topology, as installed on the portable Python runtime",
                    ms["runtime"],
                    ms["bridge"],
                    "Debian bridge ADD",
                    goal=2.0,
                )
            ]
            if "runtime" in ms
            else []
        ),
        Result(
            "ADD p50 (ms), pod in no topology, zipapp exec'd",
            ms["zipapp"],
            ms["bridge"],
            "Debian bridge ADD",
            goal=2.0,
        ),
    ]


# ---- the topology pod ------------------------------------------------------------------------


def _topologies() -> list[dict[str, Any]]:
    """hub with one link to each of p1..p5 (eth1..eth5 on the hub, eth1 on each peer)."""
    hub_links, objects = [], []
    for i in range(1, PEERS + 1):
        hub_links.append(
            {
                "uid": i,
                "peer_pod": f"p{i}",
                "local_intf": f"eth{i}",
                "peer_intf": "eth1",
                "local_ip": f"10.252.{i}.1/30",
                "peer_ip": f"10.252.{i}.2/30",
            }
        )
        objects.append(
            _topology(
                f"p{i}",
                [
                    {
                        "uid": i,
                        "peer_pod": "hub",
                        "local_intf": "eth1",
                        "peer_intf": f"eth{i}",
                        "local_ip": f"10.252.{i}.2/30",
                        "peer_ip": f"10.252.{i}.1/30",
                    }
                ],
            )
        )
    return [_topology("hub", hub_links), *objects]


def _topology(name: str, links: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": name, "namespace": KUBE_NS},
        "spec": {"links": links},
    }


def _links_in(netns: str) -> set[str]:
    out = _check(_run(["ip", "-n", netns, "-j", "link", "show"]), f"ip -n {netns} link")
    return {str(link["ifname"]) for link in json.loads(out)} - {"lo"}


@benchmark("cni-add-topology")
def cni_add_topology(ctx: Context) -> list[Result]:
    """ADD of a topology pod with 5 links (peers up, daemon running, DEL between runs) vs bridge ADD."""
    exe = ctx.require_executable()
    _require_root_and_bridge()
    if _run([str(exe), "daemon", "--help"], env={"PATH": timing.SYSTEM_PATH}).returncode != 0:
        raise Skip("this build has no `kubedtn daemon`")
    from kubedtn.store import open_store

    tag = uuid.uuid4().hex[:8]
    names = ["hub", *(f"p{i}" for i in range(1, PEERS + 1))]
    with (
        _workdir() as work,
        _namespaces(len(names) + 1, f"kdtnb-{tag}") as spaces,
        _bridge(work, spaces[-1], tag) as bridge,
    ):
        netns = dict(zip(names, spaces, strict=False))
        # A daemon as the lab starts one: its own socket, state and store under work/.
        paths = LabPaths(lab="bench", state_dir=work / "state", run_dir=work / "run")
        paths.state_dir.mkdir()
        store = open_store(paths.store)
        try:
            for obj in _topologies():
                store.create(obj)
        finally:
            store.close()
        pod_list = paths.pod_list
        options = {"podList": str(pod_list), "daemonSocket": str(paths.socket), "daemonWaitSeconds": 30}

        def listed() -> bool:
            with contextlib.suppress(OSError, ValueError):
                return f"{KUBE_NS}/hub" in json.loads(pod_list.read_text())["pods"]
            return False

        prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": []}
        config = {"cniVersion": "1.0.0", "name": "bench", "type": "kubedtn", **options, "prevResult": prev}
        env = {"PATH": timing.SYSTEM_PATH, "CNI_PATH": str(exe.parent)}
        argv = daemonproc.daemon_argv(paths, host_ip="127.0.0.1", store=str(paths.store), command=[str(exe)])
        pid = daemonproc.start(
            argv, log_file=paths.daemon_log, ready=lambda: paths.socket.exists() and listed()
        )
        try:
            with _installed(exe, work, options) as plugin_path:
                plugins = {"installed": Plugin(plugin_path, env), "zipapp": Plugin(str(exe), env)}
                for peer in names[1:]:
                    plugins["zipapp"].call("ADD", config, **_kubedtn_env(netns[peer], peer, work / "cni.log"))
                hub_env = _kubedtn_env(netns["hub"], "hub", work / "cni.log")

                def sample(plugin: Plugin) -> Callable[[], float]:
                    def run() -> float:
                        elapsed, _ = plugin.call("ADD", config, **hub_env)
                        plugin.call("DEL", {**config}, **hub_env)
                        return elapsed

                    return run

                # Once, checked: the ADD really makes the 5 links, the DEL removes them.
                plugins["installed"].call("ADD", config, **hub_env)
                made = _links_in(netns["hub"])
                if made != {f"eth{i}" for i in range(1, PEERS + 1)}:
                    raise RuntimeError(f"hub has {sorted(made)} after ADD, expected eth1..eth{PEERS}")
                plugins["installed"].call("DEL", config, **hub_env)
                if _links_in(netns["hub"]):
                    raise RuntimeError(f"hub still has {sorted(_links_in(netns['hub']))} after DEL")
                times = timing.interleaved(
                    {
                        "installed": sample(plugins["installed"]),
                        "zipapp": sample(plugins["zipapp"]),
                        "bridge": bridge.sample,
                    },
                    runs=ctx.runs,
                )
        finally:
            daemonproc.stop(pid)
    ms = {name: timing.median_ms(values) for name, values in times.items()}
    details = _stats(times, ctx.runs)
    details["links"] = PEERS
    return [
        Result(
            f"ADD p50 (ms), topology pod with {PEERS} links, as installed",
            ms["installed"],
            ms["bridge"],
            "Debian bridge ADD (one veth + IPAM)",
            goal=4.0,
            details=details,
        ),
        Result(
            f"ADD p50 (ms), topology pod with {PEERS} links, zipapp exec'd",
            ms["zipapp"],
            ms["bridge"],
            "Debian bridge ADD (one veth + IPAM)",
            goal=4.0,
        ),
    ]
