"""``lab up --via-cni``: each pod is brought up by exec'ing CNI plugins as a runtime does.

The chain is Debian's ``bridge`` plugin (eth0 on the lab bridge ``kdtn-<lab>``, an
address from ``host-local`` IPAM in the lab subnet) followed by the kubedtn executable
as a chained plugin, which calls the lab's daemon (SetupPod / DestroyPod). The runtime
is ``kubedtn.lab.cniruntime``; ADD results are cached in the lab's directory so
``lab down`` can DEL with ``prevResult`` like a runtime does.

The bridge gets no address (``isGateway`` false) and nothing is masqueraded: eth0
joins the lab's pods to one another, not to the host or beyond.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.lab import selfexec
from kubedtn.lab.cniruntime import (
    Attachment,
    CniRuntime,
    NetworkList,
    PluginError,
    parse_network_list,
    pod_args,
)
from kubedtn.lab.names import LabPaths, bridge_name
from kubedtn.lab.state import CniRecord, PodRecord

SYSTEM_CNI_DIRS: Final = ("/usr/lib/cni", "/opt/cni/bin")
CNI_VERSION: Final = "1.0.0"
PARALLEL: Final = 8  # pods in flight at once (runtimes start sandboxes in parallel too)
DAEMON_WAIT_S: Final = 30


def check_subnet(subnet: str) -> str:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise ValidationError(f"--subnet: {subnet!r} is not a network in CIDR form ({e})") from None
    if net.num_addresses < 4:
        raise ValidationError(f"--subnet: {subnet} is too small for pods (give at least a /30)")
    return str(net)


def conflist(paths: LabPaths, *, subnet: str) -> dict[str, Any]:
    """The network configuration list of the lab (pure)."""
    return {
        "cniVersion": CNI_VERSION,
        "name": f"kubedtn-lab-{paths.lab}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge_name(paths.lab),
                "isGateway": False,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": str(paths.cni_dir / "ipam"),
                },
            },
            {
                "type": "kubedtn",
                "daemonSocket": str(paths.socket),
                "podList": str(paths.pod_list),
                "daemonWaitSeconds": DAEMON_WAIT_S,
                "logFile": str(paths.cni_dir / "cni.log"),
            },
        ],
    }


def plugin_dirs() -> list[str]:
    """Where Debian's plugins are; ValidationError when the bridge plugin is not installed."""
    dirs = [d for d in SYSTEM_CNI_DIRS if (Path(d) / "bridge").is_file()]
    if not dirs:
        raise ValidationError(
            "--via-cni needs the CNI bridge and host-local plugins "
            "(Debian: apt-get install containernetworking-plugins, in /usr/lib/cni)"
        )
    return dirs


def prepare(paths: LabPaths, *, subnet: str) -> CniRecord:
    """Writes the conflist and the kubedtn plugin executable into the lab's CNI directory."""
    import json

    cni_bin = paths.cni_dir / "bin"
    selfexec.plugin_executable(cni_bin)
    conf = paths.cni_dir / "lab.conflist"
    conf.write_text(json.dumps(conflist(paths, subnet=subnet), indent=2) + "\n")
    return CniRecord(
        bridge=bridge_name(paths.lab),
        subnet=subnet,
        conflist=str(conf),
        cni_path=":".join([str(cni_bin), *plugin_dirs()]),
        ipam_dir=str(paths.cni_dir / "ipam"),
    )


def _runtime(record: CniRecord, paths: LabPaths) -> tuple[CniRuntime, NetworkList]:
    network = parse_network_list(Path(record.conflist).read_text(), source=record.conflist)
    runtime = CniRuntime(cni_path=record.cni_path.split(":"), cache_dir=str(paths.cni_dir / "results"))
    return runtime, network


def attachment(pod: PodRecord) -> Attachment:
    # The namespace name is unique on the host: a good container id.
    return Attachment(
        container_id=pod.netns,
        netns=pod.netns_path,
        ifname="eth0",
        args=pod_args(namespace=pod.kube_ns, name=pod.name),
    )


def _in_parallel(
    pods: Sequence[PodRecord], work: Callable[[PodRecord], str | None], on_done: Callable[[int], None]
) -> dict[str, str]:
    """Runs work per pod (PARALLEL at once); pod key → error text of the pods that failed."""
    errors: dict[str, str] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="kubedtn-lab-cni") as pool:
        for pod, error in zip(pods, pool.map(work, pods), strict=True):
            done += 1
            on_done(done)
            if error:
                errors[pod.key] = error
    return errors


def add_pods(
    record: CniRecord, paths: LabPaths, pods: Sequence[PodRecord], *, on_done: Callable[[int], None]
) -> dict[str, str]:
    """CNI ADD of every pod; a pod added before is CHECKed and, if that fails, DEL'd and
    ADDed again (what a runtime does when it recreates a sandbox)."""
    runtime, network = _runtime(record, paths)

    def one(pod: PodRecord) -> str | None:
        att = attachment(pod)
        try:
            try:
                runtime.check(network, att)  # ValidationError: no ADD result cached, never added
                return None
            except PluginError:
                runtime.delete(network, att)
            except ValidationError:
                pass
            runtime.add(network, att)
        except (PluginError, KubedtnError) as e:
            return str(e)
        return None

    return _in_parallel(pods, one, on_done)


def delete_pods(
    record: CniRecord, paths: LabPaths, pods: Sequence[PodRecord], *, on_done: Callable[[int], None]
) -> dict[str, str]:
    """CNI DEL of every pod (with the cached ADD result as prevResult)."""
    runtime, network = _runtime(record, paths)

    def one(pod: PodRecord) -> str | None:
        try:
            runtime.delete(network, attachment(pod))
        except (PluginError, KubedtnError) as e:
            return str(e)
        return None

    return _in_parallel(pods, one, on_done)


def remove_bridge(record: CniRecord) -> None:
    """Deletes the lab bridge (if there) and host-local's data."""
    probe = subprocess.run(["ip", "link", "show", "dev", record.bridge], capture_output=True, check=False)
    if probe.returncode == 0:
        gone = subprocess.run(
            ["ip", "link", "del", "dev", record.bridge], capture_output=True, text=True, check=False
        )
        if gone.returncode != 0:
            raise KubedtnError(f"cannot delete the lab bridge {record.bridge}: {gone.stderr.strip()}")
    shutil.rmtree(record.ipam_dir, ignore_errors=True)
