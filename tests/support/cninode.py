"""A node as a container runtime sees it, for the CNI end-to-end tests: the built kubedtn
(dist/kubedtn) chained after Debian's bridge plugin, pod sandboxes as network namespaces.

``CniNode`` owns what it makes — namespaces, the bridge (unique name), host-local's data
dir, the attachments it ADDed — and ``cleanup()`` removes all of it (DEL of every
attachment, then namespaces, bridge, files), also after a failed test.
The daemon is not part of it: tests start one (tests/support/daemon.py) and pass its
socket and pod list paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedtn.lab.cniruntime import (
    Attachment,
    CniRuntime,
    NetworkList,
    PluginError,
    parse_network_list,
    pod_args,
)
from tests.support.netns import NamespacePool, unique

DEBIAN_CNI = "/usr/lib/cni"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def random_subnet() -> str:
    """A /24 for the bridge's host-local IPAM, unlikely to meet another test's."""
    return f"10.{random.randint(160, 199)}.{random.randint(0, 255)}.0/24"


@dataclass
class CniNode:
    executable: Path  # dist/kubedtn: found as plugin type "kubedtn" on CNI_PATH
    work: Path
    daemon_socket: str
    pod_list: str
    daemon_wait_s: float = 5.0
    kube_ns: str = "default"
    tag: str = field(default_factory=lambda: unique("k").split("-")[1])
    subnet: str = field(default_factory=random_subnet)
    pool: NamespacePool = field(default_factory=NamespacePool)
    sandboxes: dict[str, Attachment] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"kdtnbr{self.tag[:8]}"

    @property
    def log(self) -> Path:
        return self.work / "cni.log"

    @property
    def cni_path(self) -> list[str]:
        return [str(self.executable.parent), DEBIAN_CNI]

    @property
    def runtime(self) -> CniRuntime:
        # As kubelet runs plugins: system PATH, no HOME; logs kept in the test's directory.
        return CniRuntime(cni_path=self.cni_path, environ={"PATH": SYSTEM_PATH}, timeout_s=120)

    def kubedtn_entry(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "kubedtn",
            "daemonSocket": self.daemon_socket,
            "podList": self.pod_list,
            "daemonWaitSeconds": self.daemon_wait_s,
            "logFile": str(self.log),
            **overrides,
        }

    def network(self, version: str = "1.0.0", **kubedtn: Any) -> NetworkList:
        """bridge (host-local IPAM) then kubedtn, as `kubedtn daemon --install-cni` chains them."""
        bridge = {
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": self.subnet, "dataDir": str(self.work / "ipam")},
        }
        return parse_network_list(
            {
                "cniVersion": version,
                "name": f"kdtn-e2e-{self.tag}",
                "plugins": [bridge, self.kubedtn_entry(**kubedtn)],
            }
        )

    def sandbox(self, pod: str, *, kube_ns: str | None = None) -> Attachment:
        """A pod's sandbox: a new namespace and the runtime's view of it."""
        (name,) = self.pool.make(1)
        attachment = Attachment(
            container_id=f"{self.tag}-{pod}",
            netns=f"/run/netns/{name}",
            ifname="eth0",
            args=pod_args(
                namespace=kube_ns or self.kube_ns, name=pod, infra_container_id=f"{self.tag}-{pod}"
            ),
        )
        self.sandboxes[pod] = attachment
        return attachment

    def netns(self, pod: str) -> str:
        return os.path.basename(self.sandboxes[pod].netns)

    def add(self, pod: str, network: NetworkList | None = None) -> dict[str, Any]:
        attachment = self.sandboxes.get(pod) or self.sandbox(pod)
        result = self.runtime.add(network or self.network(), attachment)
        self.results[pod] = result
        return result

    def delete(self, pod: str, *, prev_result: Mapping[str, Any] | None = None) -> None:
        self.runtime.delete(self.network(), self.sandboxes[pod], prev_result=prev_result)

    def exec_kubedtn(
        self, command: str, attachment: Attachment | None, config: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        """dist/kubedtn alone, exec'd as a runtime execs a plugin: (exit code, stdout JSON)."""
        env = {"PATH": SYSTEM_PATH, "CNI_COMMAND": command, "CNI_PATH": ":".join(self.cni_path)}
        if attachment is not None:
            env |= {
                "CNI_CONTAINERID": attachment.container_id,
                "CNI_NETNS": attachment.netns,
                "CNI_IFNAME": attachment.ifname,
                "CNI_ARGS": attachment.cni_args,
            }
        proc = subprocess.run(
            [str(self.executable)],
            check=False,
            input=json.dumps(config).encode(),
            env=env,
            capture_output=True,
            timeout=120,
        )
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None

    def cleanup(self) -> None:
        problems = []
        for pod, attachment in self.sandboxes.items():
            with contextlib.suppress(PluginError):
                self.runtime.delete(self.network(), attachment, prev_result=self.results.get(pod))
        try:
            self.pool.cleanup()
        except RuntimeError as e:
            problems.append(str(e))
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        if problems:
            raise RuntimeError("; ".join(problems))


@contextlib.contextmanager
def cni_node(**kwargs: Any) -> Iterator[CniNode]:
    node = CniNode(**kwargs)
    try:
        yield node
    finally:
        node.cleanup()


def links(netns: str) -> dict[str, dict[str, Any]]:
    """``ip -j -d link`` of a namespace by interface name."""
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "-d", "link", "show"], capture_output=True, check=True, text=True
    )
    return {str(link["ifname"]): link for link in json.loads(out.stdout)}


def addresses(netns: str, dev: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-n", netns, "-j", "addr", "show", "dev", dev], capture_output=True, check=True, text=True
    )
    return {
        f"{a['local']}/{a['prefixlen']}"
        for entry in json.loads(out.stdout)
        for a in entry.get("addr_info", [])
        if a.get("scope") == "global"
    }
