"""`kubedtn topo validate|convert` through click, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubedtn.cli.root import cli

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "examples" / "kube-dtn"

BAD = """\
apiVersion: kubedtn.io/v1
kind: Topology
metadata: {name: r1}
spec:
  links:
  - {uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1, local_ip: 10.0.0.1/24}
  - {uid: 2, peer_pod: r3, local_intf: eth2, peer_intf: eth1}
  - {uid: 3, peer_pod: r4, local_intf: eth3, peer_intf: eth1, properties: {loss: "150", jitter: 5ms}}
---
apiVersion: kubedtn.io/v1
kind: Topology
metadata: {name: r2}
spec:
  links:
  - {uid: 1, peer_pod: r1, local_intf: eth1, peer_intf: eth7, mtu: 9000}
"""


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["topo", *args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", ["3node.yml", "latency.yaml", "bandwidth.yaml"])
def test_validate_accepts_kube_dtn_samples(name: str) -> None:
    code, out, _ = run("validate", str(SAMPLES / name))
    assert code == 0
    assert out == "OK: 3 topologies, 6 link ends (6 to pods, 0 to hosts); 3 other objects skipped\n"


def test_validate_example() -> None:
    code, out, _ = run("validate", str(REPO / "examples" / "3node.yaml"))
    assert (code, out) == (0, "OK: 3 topologies, 6 link ends (6 to pods, 0 to hosts)\n")


def test_validate_prints_every_problem_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    code, out, err = run("validate", str(bad))
    assert code == 1
    assert out.splitlines() == [
        f'{bad}: default/r1: spec.links[2].properties.loss: "150" is not a percentage (0-100), like "1", '
        '"0.5" or "1%" (uid 3)',
        f'{bad}: default/r1: spec.links[2].properties.jitter: "5ms" needs latency set (non-zero) on the '
        "same link (uid 3)",
        f'{bad}: default/r1: spec.links[0].local_intf: "eth1" but default/r2 spec.links[0] has peer_intf '
        '"eth7" (uid 1)',
        f"{bad}: default/r1: spec.links[0].mtu: unset but default/r2 spec.links[0] has mtu 9000; "
        "both ends of a link need the same MTU (uid 1)",
    ]
    assert err == "4 problems found\n"


def test_validate_directory_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "r2.yaml").write_text(BAD.split("---\n")[1])
    stdin = "kind: Topology\napiVersion: kubedtn.io/v1\nmetadata: {name: r2}\n"
    code, out, _ = run("validate", str(tmp_path), "-", stdin=stdin)
    assert code == 1
    assert (
        out
        == f"<stdin>: default/r2: defined again (first in {tmp_path / 'r2.yaml'}); a pod has one Topology\n"
    )


def test_validate_namespace_option(tmp_path: Path) -> None:
    code, out, _ = run("validate", "-n", "Bad_NS", str(REPO / "examples" / "3node.yaml"))
    assert code == 1
    assert out.splitlines()[0].endswith(
        'metadata.namespace: "Bad_NS" is not a namespace name (DNS-1123 label: '
        "lower-case letters, digits and '-', at most 63)"
    )


def test_validate_unreadable(tmp_path: Path) -> None:
    code, out, _ = run("validate", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert out == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory\n"


def test_convert_kube_dtn_sample() -> None:
    code, out, _ = run("convert", str(SAMPLES / "latency.yaml"))
    assert code == 0
    objs = list(yaml.safe_load_all(out))
    assert [(o["apiVersion"], o["kind"]) for o in objs] == [("kubedtn.io/v1", "Topology")] * 3 + [
        ("v1", "Pod")
    ] * 3
    assert objs[1]["spec"]["links"][1]["properties"] == {"latency": "50ms"}
    code, out, _ = run("convert", "--topologies-only", str(SAMPLES / "latency.yaml"))
    assert len(list(yaml.safe_load_all(out))) == 3


def test_convert_output_validates(tmp_path: Path) -> None:
    _, out, _ = run("convert", str(SAMPLES / "bandwidth.yaml"))
    converted = tmp_path / "converted.yaml"
    converted.write_text(out)
    assert run("validate", str(converted))[0] == 0


def test_convert_refuses_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    code, out, err = run("convert", str(bad))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 4
