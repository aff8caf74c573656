"""Certificates for the daemons' mutual TLS in tests, made once per session by ``kubedtn.daemon.certs``.

The ``pki`` fixture: a CA; the test daemon's certificate (127.0.0.1, where tests dial it);
two peer nodes' certificates from the same CA; and a node certificate from another CA.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from kubedtn.daemon import certs
from kubedtn.daemon.config import TlsFiles
from kubedtn.daemon.tls import Pem, read_pem

DAEMON_IP = "127.0.0.1"
PEER_IP = "198.51.100.2"
OTHER_PEER_IP = "198.51.100.3"


@dataclass(frozen=True)
class Pki:
    root: Path
    daemon: TlsFiles  # the test daemon's (IP 127.0.0.1)
    peer: TlsFiles  # node "peer" at PEER_IP
    other_peer: TlsFiles  # node "other" at OTHER_PEER_IP, same CA
    foreign: TlsFiles  # node "peer" at PEER_IP, signed by another CA; ca.crt: the cluster's CA

    @staticmethod
    def args(files: TlsFiles) -> list[str]:
        return ["--tls-cert", str(files.cert), "--tls-key", str(files.key), "--tls-ca", str(files.ca)]

    @staticmethod
    def credentials(files: TlsFiles) -> grpc.ChannelCredentials:
        """The files as they are (unchecked: a test may show a bad certificate)."""
        return grpc.ssl_channel_credentials(
            root_certificates=files.ca.read_bytes(),
            private_key=files.key.read_bytes(),
            certificate_chain=files.cert.read_bytes(),
        )

    @staticmethod
    def pem(files: TlsFiles) -> Pem:
        return read_pem(files)


def make_pki(root: Path) -> Pki:
    certs.make_ca(root / "ca")
    certs.make_ca(root / "other-ca", name="another-ca")
    node = certs.make_node_cert
    foreign = node(root / "other-ca", ip=PEER_IP, name="peer", out=root / "foreign")
    # it trusts the cluster's CA, so that a handshake with a daemon fails only on its own certificate
    shutil.copyfile(root / "ca" / certs.CA_CERT, foreign.ca)
    return Pki(
        root=root,
        daemon=node(root / "ca", ip=DAEMON_IP, name="test-node", out=root / "daemon"),
        peer=node(root / "ca", ip=PEER_IP, name="peer", out=root / "peer"),
        other_peer=node(root / "ca", ip=OTHER_PEER_IP, name="other", out=root / "other"),
        foreign=foreign,
    )


@pytest.fixture(scope="session")
def pki() -> Iterator[Pki]:
    root = Path(tempfile.mkdtemp(prefix="kdtn-pki-"))
    try:
        yield make_pki(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
