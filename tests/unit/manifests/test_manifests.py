"""The kustomizations of manifests/: each renders with ``kubectl kustomize``, every object
passes the Kubernetes schemas offline (kubernetes-validate, strict: an unknown field fails),
and what the objects say agrees with the code they run: every command line parses with
kubedtn's CLI, the paths are the ones the code uses, the images are set from IMG/CNI_IMG,
and the Topology samples pass the CRD's schema as the API server applies it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import jsonschema
import kubernetes_validate
import pytest
import yaml

from kubedtn.cli.root import cli
from kubedtn.cni import pyruntime
from kubedtn.cni.rules import (
    DEFAULT_CNI_BIN_DIR,
    DEFAULT_CNI_CONF_DIR,
    DEFAULT_DAEMON_SOCKET,
    DEFAULT_STATE_DIR,
)
from kubedtn.controller.leader import DEFAULT_NAMESPACE as LEASE_NAMESPACE
from kubedtn.daemon.certs import CA_CERT, CA_KEY, NODE_CERT, NODE_KEY
from tests.support.kubeapi.schema import admit
from tests.unit.manifests.render import KUSTOMIZATIONS, REPO, Obj, key, one, render, render_text

# hack/build-zipapp.sh's default: where the archive unpacks when the plugin first runs.
ZIPAPP_ROOT = "/var/lib/kubedtn/zipapp"

K8S_VERSION = kubernetes_validate.latest_version()
# Kinds with no schema in kubernetes-validate: checked against what they select instead.
OPERATOR_KINDS = {("monitoring.coreos.com/v1", "PodMonitor")}


def _pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def _containers(obj: Obj) -> list[Obj]:
    spec = _pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def _container(obj: Obj, name: str) -> Obj:
    return next(c for c in _containers(obj) if c["name"] == name)


@pytest.mark.parametrize("part", KUSTOMIZATIONS)
def test_each_kustomization_renders_objects_that_pass_the_kubernetes_schemas(part: str) -> None:
    objects = render(part)
    assert objects, f"manifests/{part} renders nothing"
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except jsonschema.ValidationError as e:  # (kubernetes-validate's are of this class too)
            pytest.fail(f"manifests/{part}: {'/'.join(key(obj))}: {e.message} at {list(e.path)}")
    keys = [key(o) for o in objects]
    assert len(keys) == len(set(keys)), f"manifests/{part}: an object twice"


def test_the_top_level_is_the_crd_the_nodes_and_the_controller() -> None:
    parts = {key(o) for part in ("crd", "cni", "controller") for o in render(part)}
    assert {key(o) for o in render("")} == parts


def test_the_pod_monitors_select_the_pods_and_ports_of_the_metrics() -> None:
    workloads = render("cni") + render("controller")
    monitors = render("monitoring")
    assert {m["kind"] for m in monitors} == {"PodMonitor"}
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        chosen = [
            w
            for w in workloads
            if w["kind"] in ("DaemonSet", "Deployment")
            and w["metadata"]["namespace"] == monitor["metadata"]["namespace"]
            and selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(chosen) == 1, monitor["metadata"]["name"]
        ports = {p["name"] for c in _containers(chosen[0]) for p in c.get("ports", [])}
        assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= ports


def test_the_services_select_their_pods_and_name_their_ports() -> None:
    for part in ("cni", "controller"):
        objects = render(part)
        for service in (o for o in objects if o["kind"] == "Service"):
            pods = [
                o
                for o in objects
                if o["kind"] in ("DaemonSet", "Deployment")
                and service["spec"]["selector"].items() <= o["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert len(pods) == 1, service["metadata"]["name"]
            named = {p["name"]: p["containerPort"] for c in _containers(pods[0]) for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                assert named[port["targetPort"]] == port["port"]


# ---- the command lines ------------------------------------------------------------------


def _expand(arg: str, env: dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it, from the container's env."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


def _parse(argv: list[str]) -> click.Context:
    """Parse a kubedtn command line as the CLI would run it, without running it: an unknown
    command or option, or a bad choice, raises click's UsageError. (No group options here:
    subcommands come first.)"""
    assert argv[0] == "kubedtn", argv
    command: click.Command = cli
    rest = argv[1:]
    while isinstance(command, click.Group):
        assert rest, f"{' '.join(argv)}: no subcommand"
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            raise click.UsageError(f"no such command {rest[0]!r}")
        command, rest = sub, rest[1:]
    return command.make_context(str(command.name), rest)


def _command_lines(obj: Obj) -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, argv, env) of every container's command and exec probe."""
    out = []
    for c in _containers(obj):
        env = {e["name"]: e.get("value", f"<{e['name']}>") for e in c.get("env", [])}
        out.append((c["name"], [*c.get("command", []), *c.get("args", [])], env))
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if "exec" in c.get(probe, {}):
                out.append((f"{c['name']} {probe}", c[probe]["exec"]["command"], env))
    return out


@pytest.mark.parametrize("part", ["cni", "controller", "kube-dtn"])
def test_every_command_line_parses_with_the_cli(part: str) -> None:
    workloads = [o for o in render(part) if o["kind"] in ("DaemonSet", "Deployment")]
    assert workloads
    for workload in workloads:
        for where, argv, env in _command_lines(workload):
            try:
                ctx = _parse([_expand(a, env) for a in argv])
            except click.UsageError as e:
                pytest.fail(f"{workload['metadata']['name']} {where}: {' '.join(argv)}: {e}")
            assert not ctx.args, f"{where}: extra arguments {ctx.args}"


def _daemon_options() -> dict[str, Any]:
    ds = one(render("cni"), "DaemonSet", "kubedtn-daemon")
    argv = [*_container(ds, "daemon")["command"], *_container(ds, "daemon")["args"]]
    return dict(_parse(argv).params)


def test_the_daemonset_reaches_the_node_where_the_code_looks() -> None:
    ds = one(render("cni"), "DaemonSet", "kubedtn-daemon")
    spec = _pod_spec(ds)
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    daemon = _container(ds, "daemon")
    options = _daemon_options()
    assert options["backend"] == "kubernetes" and options["install_cni"] is True
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: m for m in daemon["volumeMounts"]}

    def on_host(path: str) -> str:
        """The host path a container path is on, through the mounts."""
        for target, mount in mounts.items():
            if path == target or path.startswith(target + "/"):
                return str(host_paths[mount["name"]]) + path[len(target) :]
        raise AssertionError(f"{path} is on no host path")

    # The plugin runs on the host: it must find itself, its conflist and the socket there.
    assert on_host(options["cni_bin_dir"]) == DEFAULT_CNI_BIN_DIR
    assert on_host(options["cni_conf_dir"]) == DEFAULT_CNI_CONF_DIR
    assert on_host(options["socket_path"]) == DEFAULT_DAEMON_SOCKET
    assert on_host(options["state_dir"]) == DEFAULT_STATE_DIR
    # The launcher names by path the archive beside it, the archive's unpacked copy (under
    # the zipapp's build-time root) and the Python runtime's copy (in the state dir), and
    # that runtime's interpreter names its loader: each is at the same path on the host.
    for path in (options["cni_bin_dir"], options["state_dir"], ZIPAPP_ROOT):
        assert on_host(path) == path
    # The node image's runtime, named: without it the install fails, rather than installing
    # a plugin that runs only on hosts with the image's Python.
    assert options["cni_python_runtime"] == pyruntime.DEFAULT_SOURCE
    # Pods' namespaces mounted by the runtime after the daemon started must show up inside.
    assert mounts["/var/run/netns"]["mountPropagation"] == "Bidirectional"
    assert host_paths[mounts["/var/run/netns"]["name"]] == "/var/run/netns"
    assert mounts["/sys/fs/bpf"]["mountPropagation"] == "Bidirectional"
    # (Kubernetes refuses Bidirectional propagation in a container that is not privileged.)
    assert daemon["securityContext"]["privileged"] is True
    assert {"NET_ADMIN", "SYS_ADMIN"} <= set(daemon["securityContext"]["capabilities"]["add"])

    env = {e["name"]: e for e in daemon["env"]}
    assert env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["TCPIP_BYPASS"]["value"] == "false"
    probe = daemon["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["kubedtn", "status"] and f"--socket={options['socket_path']}" in probe


def test_the_node_certificate_is_made_from_the_ca_that_only_the_init_container_sees() -> None:
    ds = one(render("cni"), "DaemonSet", "kubedtn-daemon")
    spec = _pod_spec(ds)
    init = _container(ds, "node-cert")
    ctx = _parse([_expand(a, {"HOST_IP": "10.0.0.1", "NODE_NAME": "n1"}) for a in init["command"]])
    assert ctx.command.name == "node" and ctx.params["ip"] == "10.0.0.1" and ctx.params["name"] == "n1"
    init_env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in init["env"] if "valueFrom" in e}
    assert init_env == {"HOST_IP": "status.hostIP", "NODE_NAME": "spec.nodeName"}

    volumes = {v["name"]: v for v in spec["volumes"]}
    ca_volume = next(n for n, v in volumes.items() if "secret" in v)
    assert volumes[ca_volume]["secret"]["secretName"] == "kubedtn-ca"
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert Path(init_mounts[ca_volume]) == Path(ctx.params["ca_dir"])  # ca.crt and ca.key there
    daemon = _container(ds, "daemon")
    assert ca_volume not in {m["name"] for m in daemon["volumeMounts"]}, "the CA key reaches the daemon"

    # The daemon reads the files the init container wrote, on the volume they share.
    out = Path(ctx.params["out"])
    out_volume = next(n for n, p in init_mounts.items() if Path(p) == out)
    assert volumes[out_volume]["emptyDir"]["medium"] == "Memory"
    daemon_mount = next(m for m in daemon["volumeMounts"] if m["name"] == out_volume)
    options = _daemon_options()
    shared = Path(daemon_mount["mountPath"])
    assert (options["tls_cert"], options["tls_key"], options["tls_ca"]) == (
        str(shared / NODE_CERT),
        str(shared / NODE_KEY),
        str(shared / CA_CERT),
    )
    assert {CA_CERT, CA_KEY} == {"ca.crt", "ca.key"}  # the Secret's keys (hack/ca-secret.sh)


def test_the_controller_runs_two_replicas_with_leader_election_and_probes() -> None:
    objects = render("controller")
    deployment = one(objects, "Deployment", "kubedtn-controller")
    assert deployment["spec"]["replicas"] == 2
    container = _container(deployment, "controller")
    env = {e["name"]: "pod-x" for e in container["env"]}
    params = _parse([_expand(a, env) for a in [*container["command"], *container["args"]]]).params
    assert params["leader_elect"] is True and params["identity"] == "pod-x"
    assert params["leader_elect_namespace"] == LEASE_NAMESPACE == deployment["metadata"]["namespace"]
    role = one(objects, "Role", "kubedtn-controller-leader-election")
    assert role["metadata"]["namespace"] == LEASE_NAMESPACE
    assert params["leader_elect_name"] in role["rules"][1]["resourceNames"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert params["metrics_addr"] == f":{ports['metrics']}" and params["health_addr"] == f":{ports['health']}"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # The restricted Pod Security profile its namespace enforces.
    namespace = one(objects, "Namespace", LEASE_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert _pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True


def test_the_images_are_the_placeholders_until_img_and_cni_img_set_them() -> None:
    def images(objects: list[Obj]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for o in objects:
            if o["kind"] in ("DaemonSet", "Deployment"):
                out[o["kind"]] = {c["image"] for c in _containers(o)}
        return out

    assert images(render("")) == {"DaemonSet": {"CNI_IMG"}, "Deployment": {"IMG"}}
    for img, cni_img in (
        ("reg.example/kubedtn-controller:v1.2.3", "reg.example:5000/team/kubedtn-node:v1.2.3"),
        ("localhost:5000/kubedtn", "reg.example/kubedtn@sha256:" + "ab" * 32),
    ):
        objects = list(yaml.safe_load_all(render_text("", IMG=img, CNI_IMG=cni_img)))
        assert images(objects) == {"DaemonSet": {cni_img}, "Deployment": {img}}
    assert not list((REPO / "manifests").glob(".render.*")), "the render script left its overlay"


def test_the_kube_dtn_overlay_runs_both_on_kube_dtns_group_with_its_rules() -> None:
    objects = render("kube-dtn")
    for kind, name in (("DaemonSet", "kubedtn-daemon"), ("Deployment", "kubedtn-controller")):
        workload = one(objects, kind, name)
        args = _containers(workload)[-1]["args"]
        assert "--api-group=y-young.github.io" in args
    base = {key(o): o for o in render("cni") + render("controller")}
    for role in (o for o in objects if o["kind"] == "ClusterRole"):
        for rule, before in zip(role["rules"], base[key(role)]["rules"], strict=True):
            if "kubedtn.io" in before["apiGroups"]:
                assert rule["apiGroups"] == ["kubedtn.io", "y-young.github.io"]
                assert rule["verbs"] == before["verbs"] and rule["resources"] == before["resources"]
            else:
                assert rule == before


# ---- the Topology samples against the CRD -------------------------------------------------

SAMPLES = sorted(p for p in (REPO / "examples").rglob("*") if p.suffix in (".yaml", ".yml"))


def _topologies(path: Path) -> list[Obj]:
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        for obj in doc.get("items", [doc]) if doc else []:
            if obj.get("kind") == "Topology":
                out.append(obj)
    return out


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_samples_pass_the_crds_schema(path: Path) -> None:
    crd = one(render("crd"), "CustomResourceDefinition", "topologies.kubedtn.io")
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    topologies = _topologies(path)
    assert topologies, f"{path}: no Topology"
    for obj in topologies:
        errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(obj)]
        assert not errors, f"{path}: {obj['metadata']['name']}: {errors}"
        # As the API server takes it (kubectl sends fieldValidation=Strict): a field the
        # schema does not know would be refused, not silently dropped.
        admit(obj, schema, kind="Topology", group=crd["spec"]["group"], strict=True)
