"""gRPC credentials of the daemons' mutual TLS, from the node's PEM files (``--tls-*``).

The server asks every client for a certificate signed by the cluster CA
(``require_client_auth``); the client checks that the server's certificate, signed by the
same CA, names the IP it dialled (gRPC's host name check matches IP SANs). Who the caller
is, and what it may ask, is decided by ``kubedtn.daemon.trust``.

gRPC only fails to bind when the files are wrong, so they are checked first with the
standard library's ``ssl``: the key is the certificate's, the CA signed the certificate
(a TLS handshake of the certificate with itself, in memory), and the certificate names
this node's HOST_IP, the address its peers dial.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from dataclasses import dataclass
from typing import Any

import grpc

from kubedtn.daemon.config import TlsFiles
from kubedtn.errors import KubedtnError

_HANDSHAKE_ROUNDS = 8  # TLS 1.2 needs two round trips, 1.3 one


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes
    ca: bytes
    ips: frozenset[str]  # the certificate's IP SANs (normalised)


def read_pem(tls: TlsFiles) -> Pem:
    """The three files, checked (module docstring); KubedtnError naming the flag and file."""
    contents: dict[str, bytes] = {}
    for field, path in (("cert", tls.cert), ("key", tls.key), ("ca", tls.ca)):
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KubedtnError(f"--tls-{field}: cannot read {path}: {e.strerror}") from e
        if b"-----BEGIN " not in data:
            raise KubedtnError(f"--tls-{field}: {path} is not a PEM file (no -----BEGIN line)")
        contents[field] = data
    return Pem(**contents, ips=_certificate_ips(tls))


def node_pem(tls: TlsFiles, *, host_ip: str) -> Pem:
    """:func:`read_pem`, and the certificate must name ``host_ip`` (peers dial it)."""
    pem = read_pem(tls)
    if str(ipaddress.ip_address(host_ip)) not in pem.ips:
        raise KubedtnError(
            f"--tls-cert: {tls.cert} names IP {', '.join(sorted(pem.ips)) or '(none)'}, not this node's "
            f"HOST_IP {host_ip}: peers dial {host_ip} and would refuse it (make one: kubedtn certs node "
            f"--ip {host_ip} ...)"
        )
    return pem


def _certificate_ips(tls: TlsFiles) -> frozenset[str]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server.load_cert_chain(tls.cert, tls.key)
    except ssl.SSLError as e:
        raise KubedtnError(
            f"--tls-cert {tls.cert}, --tls-key {tls.key}: {e.reason or e}; give a PEM certificate "
            "and its own private key (kubedtn certs node makes both)"
        ) from None
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False  # which IPs it names is what we want to learn
    try:
        client.load_verify_locations(cafile=tls.ca)
    except ssl.SSLError as e:
        raise KubedtnError(f"--tls-ca: {tls.ca} holds no CA certificate ({e.reason or e})") from None
    try:
        peer = _handshake(server, client)
    except ssl.SSLError as e:
        raise KubedtnError(
            f"--tls-cert {tls.cert}: not signed by the CA of --tls-ca {tls.ca} ({e.reason or e})"
        ) from None
    sans = peer.get("subjectAltName", ())
    return frozenset(str(ipaddress.ip_address(str(v).strip())) for k, v in sans if k == "IP Address")


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> dict[str, Any]:
    """The server's certificate as the client verified it, over memory buffers."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = server.wrap_bio(to_server, to_client, server_side=True)
    c = client.wrap_bio(to_client, to_server, server_side=False)
    for _ in range(_HANDSHAKE_ROUNDS):
        try:
            c.do_handshake()
        except ssl.SSLWantReadError:
            pass
        else:
            cert = c.getpeercert()
            return dict(cert) if cert else {}
        with contextlib.suppress(ssl.SSLWantReadError):
            s.do_handshake()
    raise KubedtnError("TLS check of the node's own certificate did not finish")


def server_credentials(pem: Pem) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(pem.key, pem.cert)], root_certificates=pem.ca, require_client_auth=True
    )


def channel_credentials(pem: Pem) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pem.ca, private_key=pem.key, certificate_chain=pem.cert
    )
