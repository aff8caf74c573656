"""The node's PEM files are checked before gRPC sees them (it would only fail to bind)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kubedtn.daemon import certs
from kubedtn.daemon.config import TlsFiles
from kubedtn.daemon.tls import read_pem
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
