"""Node certificates made with the openssl command, checked by openssl itself; the CLI."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubedtn.cli.root import cli
from kubedtn.daemon import certs
from kubedtn.errors import KubedtnError, ValidationError


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_node_certificate_names_the_nodes_ip_and_name_and_the_ca_signs_it(tmp_path: Path) -> None:
    certs.make_ca(tmp_path / "ca")
    files = certs.make_node_cert(tmp_path / "ca", ip="fd00:0::7", name="node-7.lab", out=tmp_path / "n7")
    assert (files.cert.name, files.key.name, files.ca.name) == ("tls.crt", "tls.key", "ca.crt")
    assert mode(files.key) == 0o600 and mode(tmp_path / "ca" / "ca.key") == 0o600
    assert mode(tmp_path / "n7") == 0o700 and mode(tmp_path / "ca") == 0o700
    text = openssl("x509", "-in", str(files.cert), "-noout", "-text")
    assert "IP Address:FD00:0:0:0:0:0:0:7, DNS:node-7.lab" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "CA:FALSE" in text
    assert openssl("verify", "-CAfile", str(files.ca), str(files.cert)).strip() == f"{files.cert}: OK"
    other = certs.make_node_cert(tmp_path / "ca", ip="10.0.0.8", name="n8", out=tmp_path / "n8")
    assert openssl("x509", "-in", str(other.cert), "-noout", "-serial") != openssl(
        "x509", "-in", str(files.cert), "-noout", "-serial"
    )


def test_a_ca_is_never_replaced_and_bad_names_are_refused(tmp_path: Path) -> None:
    certs.make_ca(tmp_path / "ca")
    before = (tmp_path / "ca" / "ca.key").read_bytes()
    with pytest.raises(KubedtnError, match="already holds a CA"):
        certs.make_ca(tmp_path / "ca")
    assert (tmp_path / "ca" / "ca.key").read_bytes() == before
    with pytest.raises(ValidationError) as caught:
        certs.make_node_cert(tmp_path / "ca", ip="10.0.0.300", name="Node_1", out=tmp_path / "n")
    assert caught.value.problems == [
        "--ip: '10.0.0.300' is not an IPv4 or IPv6 address (the node's HOST_IP)",
        "--name: 'Node_1' is not a DNS name (lower-case letters, digits, '-' and '.'; the node's name)",
    ]
    with pytest.raises(KubedtnError, match=r"certs node --ca .*/nope: no ca.crt and ca.key there"):
        certs.make_node_cert(tmp_path / "nope", ip="10.0.0.1", name="n1", out=tmp_path / "n")
    assert not (tmp_path / "n").exists()


def test_kubedtn_certs_makes_a_ca_and_prints_a_nodes_daemon_flags(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["certs", "ca", "--out", str(tmp_path / "ca")])
    assert made.exit_code == 0, made.output
    node = runner.invoke(
        cli,
        [
            "certs",
            "node",
            "--ca",
            str(tmp_path / "ca"),
            "--ip",
            "10.1.0.1",
            "--name",
            "n1",
            "--out",
            str(tmp_path / "n1"),
        ],
    )
    assert node.exit_code == 0, node.output
    n1 = tmp_path / "n1"
    assert node.output.strip() == f"--tls-cert {n1}/tls.crt --tls-key {n1}/tls.key --tls-ca {n1}/ca.crt"
    again = runner.invoke(cli, ["certs", "ca", "--out", str(tmp_path / "ca")])
    assert again.exit_code == 1 and "already holds a CA" in again.output
