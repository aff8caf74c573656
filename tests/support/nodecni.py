"""A simulated node's container runtime network: the CNI chain a kubelet runs for each pod.

Debian's ``bridge`` plugin (eth0 on a bridge ``cni0`` of the node namespace, an address of the
node's pod range from ``host-local``) followed by the kubedtn executable as a chained plugin,
which calls the node's daemon on its socket (SetupPod on ADD, DestroyPod on DEL). The runtime
is ``kubedtn.lab.cniruntime``; it runs in a thread that entered the node namespace, so the
plugins it execs run there, as under a node's kubelet.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from kubedtn.dataplane.netns import enter_for_good, netns_path
from kubedtn.lab import cnimode, selfexec
from kubedtn.lab.cniruntime import Attachment, CniRuntime, parse_network_list, pod_args

T = TypeVar("T")
POD_RANGES: Final = ipaddress.ip_network("10.244.0.0/16")  # node N's pods: 10.244.N.0/24
DAEMON_WAIT_S: Final = 30


def in_netns(netns: str, work: Callable[[], T]) -> T:
    """``work()`` in a new thread that entered ``netns`` (for good: the thread ends after it)."""
    out: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            enter_for_good(netns_path(netns))
            out.append(work())
        except BaseException as e:  # handed to the caller
            failed.append(e)

    thread = threading.Thread(target=run, name=f"in-{netns}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return out[0]


class NodeCni:
    """The CNI chain of one node (see the module docstring); files under ``root``."""

    def __init__(self, root: Path, *, node_netns: str, index: int, socket: Path, pod_list: Path) -> None:
        self.node_netns = node_netns
        self.subnet = str(list(POD_RANGES.subnets(new_prefix=24))[index + 1])
        root.mkdir(parents=True, exist_ok=True)
        bin_dir = root / "bin"
        selfexec.plugin_executable(bin_dir)
        self.network = parse_network_list(
            {
                "cniVersion": cnimode.CNI_VERSION,
                "name": "kubedtn-sim",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "cni0",
                        "isGateway": False,
                        "ipMasq": False,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": self.subnet}]],
                            "dataDir": str(root / "ipam"),
                        },
                    },
                    {
                        "type": "kubedtn",
                        "daemonSocket": str(socket),
                        "podList": str(pod_list),
                        "daemonWaitSeconds": DAEMON_WAIT_S,
                        "logFile": str(root / "cni.log"),
                    },
                ],
            }
        )
        self.runtime = CniRuntime(
            cni_path=[str(bin_dir), *cnimode.plugin_dirs()], cache_dir=str(root / "results")
        )

    def _attachment(self, name: str, kube_ns: str, netns: str) -> Attachment:
        return Attachment(
            container_id=netns, netns=netns_path(netns), args=pod_args(namespace=kube_ns, name=name)
        )

    def add(self, name: str, kube_ns: str, netns: str) -> str:
        """CNI ADD of the pod in namespace ``netns``; its eth0 address (the Pod's podIP)."""
        att = self._attachment(name, kube_ns, netns)
        result: dict[str, Any] = in_netns(self.node_netns, lambda: self.runtime.add(self.network, att))
        ips = result.get("ips") or []
        if not ips:
            raise AssertionError(f"CNI ADD of {kube_ns}/{name} gave no address: {json.dumps(result)}")
        return str(ips[0]["address"]).split("/")[0]

    def delete(self, name: str, kube_ns: str, netns: str) -> None:
        """CNI DEL of the pod (with its ADD result as prevResult, as a runtime keeps it)."""
        att = self._attachment(name, kube_ns, netns)
        in_netns(self.node_netns, lambda: self.runtime.delete(self.network, att))
