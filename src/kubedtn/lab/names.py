"""Names and places of a lab: lab names, namespace and bridge names, the lab's files.

Pure functions and constants only (``lab exec`` imports this and must stay light).

Naming (deterministic, shown by ``lab status``):

* the network namespace of pod ``P`` in lab ``L`` is ``L-P`` (``/run/netns/L-P``), or
  ``L-NS_P`` for a pod outside the Kubernetes namespace "default" (``_`` appears in no
  Kubernetes name, so within a lab two pods never get one namespace);
* the bridge of ``--via-cni`` is ``kdtn-L`` (hence lab names of at most 10 characters:
  an interface name has at most 15);
* every Topology object of the lab carries the label ``kubedtn.io/lab=L``;
* the lab's files: ``$KUBEDTN_LAB_STATE_DIR/L/`` (default ``/var/lib/kubedtn/lab/L/``:
  the lab's record ``lab.json``, its store ``store.db``, the daemon's state and log, the
  CNI config and IPAM data) and ``$KUBEDTN_LAB_RUN_DIR/L/`` (default
  ``/run/kubedtn/lab/L/``: the daemon's socket and pidfile).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubedtn.cni.rules import POD_LIST_NAME
from kubedtn.model.namespace import DEFAULT_NAMESPACE

LAB_LABEL: Final = "kubedtn.io/lab"
DEFAULT_LAB: Final = "kdtn"
LAB_NAME_MAX: Final = 10
_LAB_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LAB_NAME_ACCEPTS: Final = (
    f"a lab name: 1-{LAB_NAME_MAX} lower-case letters, digits and '-', starting and ending with a "
    "letter or digit"
)
NETNS_NAME_MAX: Final = 255  # a file name in /run/netns
BRIDGE_PREFIX: Final = "kdtn-"
RUN_NETNS: Final = "/run/netns"

STATE_ROOT_ENV: Final = "KUBEDTN_LAB_STATE_DIR"
RUN_ROOT_ENV: Final = "KUBEDTN_LAB_RUN_DIR"
DEFAULT_STATE_ROOT: Final = "/var/lib/kubedtn/lab"
DEFAULT_RUN_ROOT: Final = "/run/kubedtn/lab"
STATE_FILE: Final = "lab.json"

# Defaults of `lab up` (here, not in the modules that use them, so the CLI shows them
# without importing those modules).
DEFAULT_HOST_IP: Final = "127.0.0.1"  # HOST_IP of the lab's one daemon
DEFAULT_SUBNET: Final = "10.250.0.0/16"  # --via-cni: eth0 addresses (host-local IPAM)
DEFAULT_UNDERLAY: Final = "172.30.0.0/24"  # --nodes: the simulated nodes' underlay


def lab_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a lab (None when it can)."""
    if len(name) > LAB_NAME_MAX or not _LAB_NAME.fullmatch(name):
        return f"is not {LAB_NAME_ACCEPTS}"
    return None


def netns_name(lab: str, kube_ns: str, pod: str) -> str:
    """The network namespace (a name in /run/netns) of a pod of a lab."""
    if kube_ns == DEFAULT_NAMESPACE:
        return f"{lab}-{pod}"
    return f"{lab}-{kube_ns}_{pod}"


def netns_path(name: str) -> str:
    return f"{RUN_NETNS}/{name}"


def bridge_name(lab: str) -> str:
    """The bridge eth0 of every pod hangs on in ``--via-cni`` mode."""
    return f"{BRIDGE_PREFIX}{lab}"


def pod_key(kube_ns: str, pod: str) -> str:
    return f"{kube_ns}/{pod}"


def split_pod(text: str) -> tuple[str, str]:
    """``"r1"`` or ``"ns/r1"`` → (kube namespace, pod)."""
    ns, sep, pod = text.rpartition("/")
    return (ns if sep else DEFAULT_NAMESPACE), pod


def pod_text(kube_ns: str, pod: str) -> str:
    """How lab commands show a pod (the inverse of split_pod): ``"r1"``, or ``"ns/r1"``
    outside the Kubernetes namespace "default"."""
    return pod if kube_ns == DEFAULT_NAMESPACE else pod_key(kube_ns, pod)


def short_key(key: str) -> str:
    """A pod key ``"ns/r1"`` as lab commands show it (``pod_text``)."""
    return pod_text(*split_pod(key))


@dataclass(frozen=True)
class LabPaths:
    """Every file and directory of one lab."""

    lab: str
    state_dir: Path
    run_dir: Path

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def store(self) -> Path:
        return self.state_dir / "store.db"

    @property
    def daemon_state_dir(self) -> Path:
        return self.state_dir / "daemon"

    @property
    def pod_list(self) -> Path:
        """The daemon's node-local list of topology pods (read by the CNI plugin)."""
        return self.daemon_state_dir / POD_LIST_NAME

    @property
    def daemon_log(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def socket(self) -> Path:
        return self.run_dir / "daemon.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "daemon.pid"

    @property
    def cni_dir(self) -> Path:
        """``--via-cni``: the conflist, the plugin directory, IPAM data, the CNI log."""
        return self.state_dir / "cni"


def roots(environ: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """(state root, run root) of all labs."""
    env = os.environ if environ is None else environ
    return (
        Path(env.get(STATE_ROOT_ENV) or DEFAULT_STATE_ROOT),
        Path(env.get(RUN_ROOT_ENV) or DEFAULT_RUN_ROOT),
    )


def lab_paths(lab: str, environ: Mapping[str, str] | None = None) -> LabPaths:
    state_root, run_root = roots(environ)
    return LabPaths(lab=lab, state_dir=state_root / lab, run_dir=run_root / lab)


def known_labs(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the labs that have a state file, sorted."""
    state_root, _ = roots(environ)
    try:
        entries = list(state_root.iterdir())
    except OSError:
        return []
    return sorted(e.name for e in entries if (e / STATE_FILE).is_file())
