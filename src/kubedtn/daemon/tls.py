"""gRPC credentials of the daemons' mutual TLS, from the node's PEM files (``--tls-*``).

The server asks every client for a certificate signed by the cluster CA
(``require_client_auth``); the client checks that the server's certificate, signed by the
same CA, names the IP it dialled (gRPC's host name check matches IP SANs). Who the caller
is, and what it may ask, is decided by ``kubedtn.daemon.trust``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import grpc

from kubedtn.daemon.config import TlsFiles
from kubedtn.errors import KubedtnError


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes
    ca: bytes


def read_pem(tls: TlsFiles) -> Pem:
    """The three files' contents, checked to be a certificate with its key and a CA
    certificate (gRPC would only fail to bind); KubedtnError naming the flag and the file."""
    contents: dict[str, bytes] = {}
    for field, path in (("cert", tls.cert), ("key", tls.key), ("ca", tls.ca)):
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KubedtnError(f"--tls-{field}: cannot read {path}: {e.strerror}") from e
        if b"-----BEGIN " not in data:
            raise KubedtnError(f"--tls-{field}: {path} is not a PEM file (no -----BEGIN line)")
        contents[field] = data
    check = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        check.load_cert_chain(tls.cert, tls.key)
    except ssl.SSLError as e:
        raise KubedtnError(
            f"--tls-cert {tls.cert}, --tls-key {tls.key}: {e.reason or e}; give a PEM certificate "
            "and its own private key (kubedtn certs node makes both)"
        ) from None
    try:
        check.load_verify_locations(cafile=tls.ca)
    except ssl.SSLError as e:
        raise KubedtnError(f"--tls-ca: {tls.ca} holds no CA certificate ({e.reason or e})") from None
    return Pem(**contents)


def server_credentials(pem: Pem) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(pem.key, pem.cert)], root_certificates=pem.ca, require_client_auth=True
    )


def channel_credentials(pem: Pem) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pem.ca, private_key=pem.key, certificate_chain=pem.cert
    )
