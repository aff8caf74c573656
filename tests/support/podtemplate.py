"""A DaemonSet's pod template as podman runs it on one node, the way a kubelet would run it.

``read_daemonset`` takes the DaemonSet out of rendered manifests (``hack/render-manifests.sh``,
what ``make manifests`` writes into dist/manifests/cni.yaml); ``containers`` turns its pod
template into ``ContainerRun``s, init containers first, and ``podman_run`` each into a
``podman run`` command line. Only what a kubelet does is added:

- the downward API: ``fieldRef`` env from the ``FieldValues`` of the node and pod;
- ``$(VAR)`` in command and args expanded from the container's env (``$$`` escapes), as
  the kubelet does;
- volumes: ``hostPath`` -> the node's directory for that path (the caller maps host paths),
  ``secret`` -> a directory the caller filled with the Secret's keys, ``emptyDir`` -> a new
  directory per pod;
- the service account: its token, ca.crt and namespace at
  /var/run/secrets/kubernetes.io/serviceaccount, and KUBERNETES_SERVICE_HOST/PORT, which
  in-cluster clients read;
- hostNetwork -> the node's network namespace, hostPID -> the host's PID namespace;
  privileged, or capabilities added and dropped; mount propagation Bidirectional ->
  ``rshared``, HostToContainer -> ``rslave``.

Anything else in a template (a volume or env source this does not know) is an error naming
it, so a change to the manifests shows up here instead of being silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

SERVICE_ACCOUNT_DIR: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
_PROPAGATION: Final = {"Bidirectional": "rshared", "HostToContainer": "rslave", "None": ""}


@dataclass(frozen=True)
class FieldValues:
    """What the downward API gives a pod's env (``fieldRef.fieldPath`` -> value)."""

    node_name: str
    host_ip: str
    pod_name: str
    pod_namespace: str
    pod_ip: str = ""

    def get(self, path: str) -> str:
        values = {
            "spec.nodeName": self.node_name,
            "status.hostIP": self.host_ip,
            "metadata.name": self.pod_name,
            "metadata.namespace": self.pod_namespace,
            "status.podIP": self.pod_ip or self.host_ip,  # a hostNetwork pod's IP is its node's
        }
        if path not in values:
            raise ValueError(f"env fieldRef.fieldPath {path!r} is not served here: {sorted(values)}")
        return values[path]


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False
    propagation: str = ""  # podman's: rshared, rslave or ""


@dataclass(frozen=True)
class ContainerRun:
    """One container of the pod, ready for podman."""

    name: str
    init: bool
    image: str
    command: tuple[str, ...]  # the entrypoint (empty: the image's)
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    mounts: tuple[Mount, ...]
    privileged: bool
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    no_new_privileges: bool
    host_network: bool
    host_pid: bool
    readiness: tuple[str, ...] = ()  # an exec readinessProbe's command
    env_map: dict[str, str] = field(default_factory=dict)


def read_daemonset(manifests: str, name: str) -> dict[str, Any]:
    """The DaemonSet ``name`` of a rendered multi-document manifest."""
    for doc in yaml.safe_load_all(manifests):
        if doc and doc.get("kind") == "DaemonSet" and doc["metadata"]["name"] == name:
            return dict(doc)
    raise LookupError(f"no DaemonSet {name!r} in the rendered manifests")


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: a defined VAR is replaced, an undefined one is left
    as written, ``$$`` is one ``$``."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(one, text)


def container_env(
    container: Mapping[str, Any], fields: FieldValues, extra: Mapping[str, str]
) -> dict[str, str]:
    """The container's env: the kubelet's (``extra``) first, then its own in order, each
    value expanded against those before it."""
    env = dict(extra)
    for entry in container.get("env") or []:
        name = entry["name"]
        if "value" in entry:
            env[name] = expand(str(entry["value"]), env)
        elif "fieldRef" in (entry.get("valueFrom") or {}):
            env[name] = fields.get(entry["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            raise ValueError(f"container {container['name']}: env {name}: source {entry} is not served here")
    return env


def volume_sources(
    spec: Mapping[str, Any],
    *,
    host_path: Callable[[str], Path],
    secret: Callable[[str], Path],
    empty_dir: Callable[[str], Path],
) -> dict[str, Path]:
    """Volume name -> the directory that backs it on this node."""
    out: dict[str, Path] = {}
    for volume in spec.get("volumes") or []:
        name = volume["name"]
        if "hostPath" in volume:
            out[name] = host_path(volume["hostPath"]["path"])
        elif "secret" in volume:
            out[name] = secret(volume["secret"]["secretName"])
        elif "emptyDir" in volume:
            out[name] = empty_dir(name)
        else:
            raise ValueError(f"volume {name}: {sorted(set(volume) - {'name'})} is not served here")
    return out


def containers(
    template: Mapping[str, Any],
    *,
    fields: FieldValues,
    volumes: Mapping[str, Path],
    service_account: Path,
    api_host: str,
    api_port: int,
) -> list[ContainerRun]:
    """The pod's containers in the order a kubelet starts them: init containers, then the rest."""
    spec = template["spec"]
    kubelet_env = {"KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": str(api_port)}
    sa_mount = Mount(service_account, SERVICE_ACCOUNT_DIR, read_only=True)
    runs = []
    for init, container in [(True, c) for c in spec.get("initContainers") or []] + [
        (False, c) for c in spec["containers"]
    ]:
        env = container_env(container, fields, kubelet_env)
        mounts = [
            Mount(
                volumes[m["name"]],
                m["mountPath"],
                read_only=bool(m.get("readOnly")),
                propagation=_PROPAGATION[m.get("mountPropagation", "None")],
            )
            for m in container.get("volumeMounts") or []
        ]
        security = container.get("securityContext") or {}
        caps = security.get("capabilities") or {}
        probe = ((container.get("readinessProbe") or {}).get("exec") or {}).get("command") or []
        runs.append(
            ContainerRun(
                name=container["name"],
                init=init,
                image=container["image"],
                command=tuple(expand(c, env) for c in container.get("command") or []),
                args=tuple(expand(a, env) for a in container.get("args") or []),
                env=tuple(env.items()),
                mounts=(*mounts, sa_mount),
                privileged=bool(security.get("privileged")),
                cap_add=tuple(caps.get("add") or []),
                cap_drop=tuple(caps.get("drop") or []),
                no_new_privileges=security.get("allowPrivilegeEscalation") is False,
                host_network=bool(spec.get("hostNetwork")),
                host_pid=bool(spec.get("hostPID")),
                readiness=tuple(probe),
                env_map=env,
            )
        )
    return runs


def podman_run(run: ContainerRun, *, name: str, node_netns: str, podman: Sequence[str]) -> list[str]:
    """``podman run`` of one container: an init container in the foreground (--rm), the others
    detached. ``node_netns``: the node's network namespace path (hostNetwork)."""
    argv = [*podman, "run", "--name", name]
    argv += ["--rm"] if run.init else ["-d"]
    argv += ["--network", f"ns:{node_netns}"] if run.host_network else []
    argv += ["--pid", "host"] if run.host_pid else []
    if run.privileged:
        # As the CRI runtimes do: a privileged container has every capability, whatever it drops.
        argv.append("--privileged")
    else:
        argv += [f"--cap-drop={c}" for c in run.cap_drop]
        argv += [f"--cap-add={c}" for c in run.cap_add]
    argv += ["--security-opt", "no-new-privileges"] if run.no_new_privileges else []
    for key, value in run.env:
        argv += ["--env", f"{key}={value}"]
    for m in run.mounts:
        options = ",".join(o for o in ("ro" if m.read_only else "", m.propagation) if o)
        argv += ["--volume", f"{m.source}:{m.target}" + (f":{options}" if options else "")]
    if run.command:
        argv += ["--entrypoint", json.dumps(list(run.command[:1]))]
        return [*argv, run.image, *run.command[1:], *run.args]
    return [*argv, run.image, *run.args]
