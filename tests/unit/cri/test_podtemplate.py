"""The DaemonSet's pod template turned into podman command lines (tests.support.podtemplate),
against the rendered cni kustomization: what the node test runs is what the manifests say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.podtemplate import (
    SERVICE_ACCOUNT_DIR,
    ContainerRun,
    FieldValues,
    containers,
    expand,
    podman_run,
    read_daemonset,
    volume_sources,
)
from tests.unit.manifests.render import render_text

FIELDS = FieldValues(
    node_name="node-a", host_ip="10.1.2.3", pod_name="kubedtn-daemon-x", pod_namespace="kubedtn"
)


def test_expand_follows_kubernetes() -> None:
    env = {"HOST_IP": "10.1.2.3"}
    assert expand("--ip=$(HOST_IP)", env) == "--ip=10.1.2.3"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(HOST_IP) is escaped", env) == "$(HOST_IP) is escaped"


def _runs(tmp_path: Path) -> list[ContainerRun]:
    manifests = render_text("cni", CNI_IMG="registry.example/kubedtn-node:t1")
    template = read_daemonset(manifests, "kubedtn-daemon")["spec"]["template"]
    volumes = volume_sources(
        template["spec"],
        host_path=lambda p: tmp_path / "host" / p.lstrip("/"),
        secret=lambda name: tmp_path / "secrets" / name,
        empty_dir=lambda name: tmp_path / "empty" / name,
    )
    return containers(
        template,
        fields=FIELDS,
        volumes=volumes,
        service_account=tmp_path / "sa",
        api_host="127.0.0.1",
        api_port=6443,
    )


def test_init_containers_come_first_and_every_container_runs_the_image(tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    assert [r.init for r in runs] == [True, False]
    assert {r.image for r in runs} == {"registry.example/kubedtn-node:t1"}


def test_the_node_cert_init_container_gets_the_downward_api_and_the_secret(tmp_path: Path) -> None:
    init = _runs(tmp_path)[0]
    assert "--ip=10.1.2.3" in init.args + init.command
    assert "--name=node-a" in init.args + init.command
    ca = next(m for m in init.mounts if m.target == "/etc/kubedtn/ca")
    assert ca.source == tmp_path / "secrets" / "kubedtn-ca" and ca.read_only
    argv = podman_run(init, name="c", node_netns="/run/netns/n", podman=["podman"])
    assert "--rm" in argv and "--privileged" not in argv and "--cap-drop=ALL" in argv


def test_the_daemon_runs_in_the_node_s_namespaces_with_its_host_paths(tmp_path: Path) -> None:
    daemon = _runs(tmp_path)[1]
    argv = podman_run(daemon, name="d", node_netns="/run/netns/n", podman=["podman"])
    assert argv[argv.index("--network") + 1] == "ns:/run/netns/n"
    assert argv[argv.index("--pid") + 1] == "host"
    assert "--privileged" in argv and "-d" in argv
    volumes = {argv[i + 1] for i, a in enumerate(argv) if a == "--volume"}
    assert f"{tmp_path}/host/var/run/netns:/var/run/netns:rshared" in volumes
    assert f"{tmp_path}/host/opt/cni/bin:/opt/cni/bin" in volumes
    assert f"{tmp_path}/sa:{SERVICE_ACCOUNT_DIR}:ro" in volumes
    env = dict(daemon.env)
    assert env["HOST_IP"] == "10.1.2.3" and env["NODE_NAME"] == "node-a"
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert daemon.readiness[0] == "kubedtn"
    image = argv.index("registry.example/kubedtn-node:t1")
    assert argv[image + 1 :] == list(daemon.command[1:] + daemon.args)
    assert "--install-cni" in daemon.args


def test_an_unknown_volume_source_is_named() -> None:
    spec = {"volumes": [{"name": "cfg", "configMap": {"name": "x"}}]}
    with pytest.raises(ValueError, match=r"volume cfg: \['configMap'\]"):
        volume_sources(spec, host_path=Path, secret=Path, empty_dir=Path)


def test_an_unknown_field_ref_is_named() -> None:
    with pytest.raises(ValueError, match=r"spec\.serviceAccountName"):
        FIELDS.get("spec.serviceAccountName")
