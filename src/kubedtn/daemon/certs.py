"""Node certificates for the daemons' mutual TLS: a cluster CA and one certificate per node.

Made with the ``openssl`` command (no Python crypto library in the executable). Keys are
ECDSA P-256, written 0600 in 0700 directories. File names are those of a Kubernetes
``kubernetes.io/tls`` Secret, so a node's directory can be mounted as one:

* CA directory: ``ca.crt``, ``ca.key`` (keep the key off the nodes);
* node directory: ``tls.crt`` (IP SAN = the node's IP, DNS SAN = its name, for both
  server and client use), ``tls.key``, ``ca.crt``.

The daemon reads them at start (``--tls-cert/--tls-key/--tls-ca``); a new certificate
(rotation) takes effect when the daemon restarts. Peers check each other's certificate
against the CA, and the certificate's IP against the node's IP (kubedtn.daemon.trust).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from kubedtn.daemon.config import TlsFiles
from kubedtn.errors import KubedtnError, ValidationError

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
NODE_CERT: Final = "tls.crt"
NODE_KEY: Final = "tls.key"
CA_DAYS: Final = 3650
NODE_DAYS: Final = 365
_EC_KEY: Final = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def node_files(directory: Path) -> TlsFiles:
    """The three PEM files of a node directory, as the daemon is started with them."""
    return TlsFiles(cert=directory / NODE_CERT, key=directory / NODE_KEY, ca=directory / CA_CERT)


def _openssl(args: Sequence[str], *, what: str, stdin: bytes | None = None) -> bytes:
    exe = shutil.which("openssl")
    if exe is None:
        raise KubedtnError(f"{what}: the openssl command is not installed (Debian: apt-get install openssl)")
    # umask 077: keys are never readable by others, not even between creation and chmod
    done = subprocess.run(
        [exe, *args], input=stdin, capture_output=True, check=False, umask=0o077, timeout=60
    )
    if done.returncode != 0:
        raise KubedtnError(
            f"{what}: openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def _private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)


def _serial() -> str:
    return f"0x{secrets.token_hex(16)}"


def make_ca(out: Path, *, name: str = "kubedtn-ca", days: int = CA_DAYS) -> Path:
    """A new CA in ``out`` (``ca.crt``, ``ca.key``); refuses to overwrite one. Returns ca.crt."""
    cert, key = out / CA_CERT, out / CA_KEY
    if cert.exists() or key.exists():
        raise KubedtnError(f"certs ca: {out} already holds a CA ({CA_CERT}/{CA_KEY}); not replacing it")
    _private_dir(out)
    _openssl(
        [
            "req",
            "-x509",
            *_EC_KEY,
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            str(days),
            "-subj",
            f"/CN={name}",
            "-set_serial",
            _serial(),
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        what=f"certs ca --out {out}",
    )
    os.chmod(cert, 0o644)
    return cert


def _node_problems(ip: str, name: str) -> list[str]:
    problems = []
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        problems.append(f"--ip: {ip!r} is not an IPv4 or IPv6 address (the node's HOST_IP)")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_dns_label(label) for label in labels):
        problems.append(
            f"--name: {name!r} is not a DNS name (lower-case letters, digits, '-' and '.'; the node's name)"
        )
    return problems


def _dns_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in label)
    )


def make_node_cert(ca_dir: Path, *, ip: str, name: str, out: Path, days: int = NODE_DAYS) -> TlsFiles:
    """A key and a certificate for node ``name`` at ``ip``, signed by the CA in ``ca_dir``,
    written to ``out`` with a copy of the CA certificate (module docstring)."""
    problems = _node_problems(ip, name)
    if problems:
        raise ValidationError(problems)
    ca_cert, ca_key = ca_dir / CA_CERT, ca_dir / CA_KEY
    if not (ca_cert.is_file() and ca_key.is_file()):
        raise KubedtnError(
            f"certs node --ca {ca_dir}: no {CA_CERT} and {CA_KEY} there (make one: kubedtn certs ca)"
        )
    files = node_files(out)
    _private_dir(out)
    what = f"certs node --name {name}"
    csr = _openssl(["req", "-new", *_EC_KEY, "-keyout", str(files.key), "-subj", f"/CN={name}"], what=what)
    ip_text = str(ipaddress.ip_address(ip))
    extensions = (
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        f"subjectAltName=IP:{ip_text},DNS:{name}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=out) as ext:
        ext.write(extensions)
        ext.flush()
        _openssl(
            [
                "x509",
                "-req",
                "-CA",
                str(ca_cert),
                "-CAkey",
                str(ca_key),
                "-set_serial",
                _serial(),
                "-days",
                str(days),
                "-extfile",
                ext.name,
                "-out",
                str(files.cert),
            ],
            what=what,
            stdin=csr,
        )
    shutil.copyfile(ca_cert, files.ca)
    os.chmod(files.cert, 0o644)
    os.chmod(files.ca, 0o644)
    return files
