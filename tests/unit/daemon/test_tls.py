"""The node's PEM files are checked before gRPC sees them (it would only fail to bind)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kubedtn.daemon import certs
from kubedtn.daemon.config import TlsFiles
from kubedtn.daemon.tls import node_pem, read_pem
from kubedtn.errors import KubedtnError


@pytest.fixture
def two_nodes(tmp_path: Path) -> tuple[TlsFiles, TlsFiles]:
    certs.make_ca(tmp_path / "ca")
    a = certs.make_node_cert(tmp_path / "ca", ip="10.0.0.1", name="a", out=tmp_path / "a")
    b = certs.make_node_cert(tmp_path / "ca", ip="10.0.0.2", name="b", out=tmp_path / "b")
    return a, b


def test_a_nodes_own_files_are_read_whole(two_nodes: tuple[TlsFiles, TlsFiles]) -> None:
    a, _ = two_nodes
    pem = read_pem(a)
    assert (pem.cert, pem.key, pem.ca) == (a.cert.read_bytes(), a.key.read_bytes(), a.ca.read_bytes())
    assert pem.ips == frozenset({"10.0.0.1"})


def test_wrong_files_are_named_with_their_flag(two_nodes: tuple[TlsFiles, TlsFiles], tmp_path: Path) -> None:
    a, b = two_nodes
    with pytest.raises(
        KubedtnError, match=r"^--tls-cert .*/a/tls.crt, --tls-key .*/b/tls.key: KEY_VALUES_MISMATCH"
    ):
        read_pem(replace(a, key=b.key))
    with pytest.raises(KubedtnError, match=r"^--tls-ca: .*/a/tls.key holds no CA certificate"):
        read_pem(replace(a, ca=a.key))
    missing = tmp_path / "nope.crt"
    with pytest.raises(KubedtnError, match=rf"^--tls-cert: cannot read {missing}: No such file or directory"):
        read_pem(replace(a, cert=missing))
    text = tmp_path / "text.crt"
    text.write_text("hello\n")
    with pytest.raises(KubedtnError, match=rf"^--tls-ca: {text} is not a PEM file \(no -----BEGIN line\)"):
        read_pem(replace(a, ca=text))


def test_the_certificate_must_be_the_cas_and_name_this_nodes_ip(
    two_nodes: tuple[TlsFiles, TlsFiles], tmp_path: Path
) -> None:
    a, _ = two_nodes
    assert node_pem(a, host_ip="10.0.0.1").ips == frozenset({"10.0.0.1"})
    with pytest.raises(
        KubedtnError, match=r"names IP 10\.0\.0\.1, not this node's HOST_IP 10\.0\.0\.9: peers dial"
    ):
        node_pem(a, host_ip="10.0.0.9")
    certs.make_ca(tmp_path / "other")
    with pytest.raises(
        KubedtnError, match=r"^--tls-cert .*/a/tls.crt: not signed by the CA of --tls-ca .*/other/ca.crt"
    ):
        read_pem(replace(a, ca=tmp_path / "other" / "ca.crt"))
    v6 = certs.make_node_cert(tmp_path / "ca", ip="fd00::0:9", name="c", out=tmp_path / "c")
    assert read_pem(v6).ips == frozenset({"fd00::9"})
