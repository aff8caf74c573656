"""Daemon settings: each from its flag, else its environment variable, else the default.

=================  ==================  ===============================  ==========================
setting            flag                environment                      default
=================  ==================  ===============================  ==========================
grpc_port          --grpc-port         GRPC_PORT                        51111 (0: any free port)
grpc_bind          --grpc-bind         GRPC_BIND                        all interfaces
http_addr          --http-addr         HTTP_ADDR                        ":51112" ("" or "off": none)
host_ip            --host-ip           HOST_IP                          source of the default route,
                                                                        else the first global address
tcpip_bypass       --tcpip-bypass      TCPIP_BYPASS                     false (the DaemonSet: 1)
bypass_cgroup      --bypass-cgroup     KUBEDTN_BYPASS_CGROUP            the cgroup v2 root (from
                                                                        /proc/self/mounts)
bypass_pin_dir     --bypass-pin-dir    KUBEDTN_BYPASS_PIN_DIR           /sys/fs/bpf/kubedtn
socket_path        --socket            KUBEDTN_SOCKET                   /run/kubedtn/daemon.sock
state_dir          --state-dir         KUBEDTN_STATE_DIR                /var/lib/kubedtn
store_path         --store             KUBEDTN_STORE                    <state_dir>/store.db
pidfile            --pidfile           KUBEDTN_PIDFILE                  <socket dir>/daemon.pid
node_name          --node-name         NODE_NAME                        the host name
log_file           --log-file          KUBEDTN_DAEMON_LOG               stderr
insecure_local_tcp --insecure-local-   KUBEDTN_INSECURE_LOCAL_TCP       false: Local on the unix
                   tcp                                                  sockets only
netns_dirs         --netns-dirs        KUBEDTN_NETNS_DIRS               NETNS_DIRS (below)
backend            --backend           KUBEDTN_BACKEND                  sqlite (or kubernetes)
kubeconfig         --kubeconfig        KUBECONFIG                       in a pod: its service account
kube_context       --kube-context      KUBEDTN_KUBE_CONTEXT             the kubeconfig's current one
api_group          --api-group         KUBEDTN_API_GROUP                kubedtn.io (or y-young.github.io)
tls_cert           --tls-cert          KUBEDTN_TLS_CERT                 none (PEM: this node's
tls_key            --tls-key           KUBEDTN_TLS_KEY                  certificate, key and the
tls_ca             --tls-ca            KUBEDTN_TLS_CA                   cluster CA; all or none)
insecure_remote_   --insecure-remote-  KUBEDTN_INSECURE_REMOTE_TCP      false: Remote needs mTLS
tcp                tcp
max_concurrent_    --max-concurrent-   KUBEDTN_MAX_CONCURRENT_RPCS      512 (kubedtn.daemon.limits)
rpcs               rpcs
=================  ==================  ===============================  ==========================

The names of the first four are kube-dtn's (its DaemonSet sets them).

``Local`` makes links in any namespace it is given, so it is served on the root-only unix
socket; ``--insecure-local-tcp`` serves it on GRPC_PORT too, unauthenticated, for kube-dtn
clients that call it over TCP (logged as a warning at start). ``netns_dirs``
(comma-separated) are the directories whose files a request may name as a pod's network
namespace, besides ``/proc/<pid>/ns/net`` (kubedtn.daemon.trust).

``Remote`` (peer daemons make and remove link ends) is served on GRPC_PORT with mutual TLS
when the three ``tls_*`` files are given (kubedtn.daemon.certs makes them), and the
daemon's own calls to its peers use the same files. Without them it answers
UNAUTHENTICATED there, unless ``--insecure-remote-tcp`` serves it unauthenticated, as
kube-dtn did, for clusters moving from kube-dtn (logged as a warning at start).

``max_concurrent_rpcs`` bounds the requests each listener holds at once (running or
waiting for a worker), and the connections open at once on the plain socket: above it a
request is answered RESOURCE_EXHAUSTED (the CNI plugin's "try again later"). The other
limits are constants (kubedtn.daemon.limits).

``tcpip_bypass`` switches the eBPF TCP/IP bypass on (kubedtn.daemon.bypass): TCP between
sockets of processes in ``bypass_cgroup`` skips the TCP/IP stack, except over link ends
with properties or whose link says ``bypass: false``. Its programs and maps are pinned in
``bypass_pin_dir`` (on bpffs), where a restarted daemon finds them; off, the daemon removes
what an earlier run pinned and attached there.

``backend`` chooses where Topologies live: the embedded SQLite file (``store_path``, lab
mode and single hosts) or the Kubernetes API (a DaemonSet: in-cluster config, or
``kubeconfig``/``kube_context``), in the group ``api_group`` (kube-dtn's
``y-young.github.io`` for a cluster still on its CRD).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubedtn.cni.rules import DEFAULT_DAEMON_SOCKET, DEFAULT_STATE_DIR, POD_LIST_NAME
from kubedtn.daemon.limits import DEFAULT_MAX_CONCURRENT_RPCS
from kubedtn.errors import ValidationError
from kubedtn.store.resource import TOPOLOGY, TOPOLOGY_GROUPS

DEFAULT_GRPC_PORT: Final = 51111
DEFAULT_HTTP_ADDR: Final = ":51112"
DEFAULT_BYPASS_PIN_DIR: Final = "/sys/fs/bpf/kubedtn"
STORE_NAME: Final = "store.db"
PIDFILE_NAME: Final = "daemon.pid"

# flag name → environment variable
ENV: Final = {
    "grpc_port": "GRPC_PORT",
    "grpc_bind": "GRPC_BIND",
    "http_addr": "HTTP_ADDR",
    "host_ip": "HOST_IP",
    "tcpip_bypass": "TCPIP_BYPASS",
    "bypass_cgroup": "KUBEDTN_BYPASS_CGROUP",
    "bypass_pin_dir": "KUBEDTN_BYPASS_PIN_DIR",
    "socket_path": "KUBEDTN_SOCKET",
    "state_dir": "KUBEDTN_STATE_DIR",
    "store_path": "KUBEDTN_STORE",
    "pidfile": "KUBEDTN_PIDFILE",
    "node_name": "NODE_NAME",
    "log_file": "KUBEDTN_DAEMON_LOG",
    "insecure_local_tcp": "KUBEDTN_INSECURE_LOCAL_TCP",
    "netns_dirs": "KUBEDTN_NETNS_DIRS",
    "backend": "KUBEDTN_BACKEND",
    "kubeconfig": "KUBECONFIG",
    "kube_context": "KUBEDTN_KUBE_CONTEXT",
    "api_group": "KUBEDTN_API_GROUP",
    "tls_cert": "KUBEDTN_TLS_CERT",
    "tls_key": "KUBEDTN_TLS_KEY",
    "tls_ca": "KUBEDTN_TLS_CA",
    "insecure_remote_tcp": "KUBEDTN_INSECURE_REMOTE_TCP",
    "max_concurrent_rpcs": "KUBEDTN_MAX_CONCURRENT_RPCS",
}
BACKENDS: Final = ("sqlite", "kubernetes")
TLS_SETTINGS: Final = ("tls_cert", "tls_key", "tls_ca")
# Where runtimes keep pods' namespaces: ip netns, containerd's CRI (cni-<uuid>), CRI-O and
# podman in /run/netns (/var/run is a link to /run on most systems, not on all); Docker in
# <exec-root>/netns.
NETNS_DIRS: Final = ("/run/netns", "/var/run/netns", "/run/docker/netns", "/var/run/docker/netns")
_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class TlsFiles:
    """This node's certificate and key and the cluster CA (PEM files)."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, kw_only=True)
class DaemonConfig:
    host_ip: str
    grpc_port: int = DEFAULT_GRPC_PORT
    grpc_bind: str = ""  # "" = every interface of the (node) namespace
    http_host: str = ""
    http_port: int | None = 51112  # None: no metrics listener
    tcpip_bypass: bool = False
    bypass_cgroup: Path | None = None  # None: the cgroup v2 root, found at start
    bypass_pin_dir: Path = Path(DEFAULT_BYPASS_PIN_DIR)
    socket_path: Path = Path(DEFAULT_DAEMON_SOCKET)
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    store_path: Path = Path(DEFAULT_STATE_DIR) / STORE_NAME
    pidfile: Path = Path(DEFAULT_DAEMON_SOCKET).parent / PIDFILE_NAME
    node_name: str = ""
    log_file: Path | None = None
    insecure_local_tcp: bool = False
    netns_dirs: tuple[str, ...] = NETNS_DIRS
    backend: str = "sqlite"
    kubeconfig: str | None = None
    kube_context: str | None = None
    api_group: str = TOPOLOGY.group
    tls: TlsFiles | None = None  # None: no mutual TLS
    insecure_remote_tcp: bool = False
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS

    @property
    def pod_list_path(self) -> Path:
        """The node-local list of topology pods the CNI plugin reads."""
        return self.state_dir / POD_LIST_NAME

    @property
    def grpc_address(self) -> str:
        """What the TCP listener binds (``[::]:51111`` = every interface, dual stack)."""
        return f"{_bracketed(self.grpc_bind or '::')}:{self.grpc_port}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_port(value: str, *, what: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 65535:
        return int(value)
    raise ValidationError(f"{what}: {value!r} is not a TCP port (an integer 0..65535; 0 picks a free one)")


def parse_count(value: str, *, what: str) -> int:
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValidationError(f"{what}: {value!r} is not a count (an integer, at least 1)")


def parse_http_addr(value: str, *, what: str) -> tuple[str, int | None]:
    """``":51112"``, ``"127.0.0.1:9100"``, ``"[::1]:9100"`` → (host, port); "" or "off" → no listener."""
    if value.strip().lower() in ("", "off"):
        return "", None
    host, sep, port = value.rpartition(":")
    if not sep:
        raise ValidationError(f'{what}: {value!r} is not HOST:PORT (e.g. ":51112" or "127.0.0.1:51112")')
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host:
        parse_ip(host, what=what)
    return host, parse_port(port, what=what)


def parse_ip(value: str, *, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(f"{what}: {value!r} is not an IPv4 or IPv6 address") from None


def parse_dirs(value: str, *, what: str) -> tuple[str, ...]:
    dirs = tuple(d.strip().rstrip("/") for d in value.split(",") if d.strip())
    bad = [d for d in dirs if not d.startswith("/") or d != os.path.normpath(d)]
    if not dirs or bad:
        raise ValidationError(
            f"{what}: {value!r} is not a comma-separated list of absolute, normalised directories "
            f"(e.g. {','.join(NETNS_DIRS[:2])})"
        )
    return dirs


def parse_dir(value: str, *, what: str) -> str:
    path = value.strip().rstrip("/")
    if not path.startswith("/") or path != os.path.normpath(path):
        raise ValidationError(
            f"{what}: {value!r} is not an absolute, normalised directory (e.g. /sys/fs/bpf/kubedtn)"
        )
    return path


def parse_choice(value: str, choices: tuple[str, ...], *, what: str) -> str:
    if value in choices:
        return value
    raise ValidationError(f"{what}: {value!r} is not one of {', '.join(choices)}")


def parse_bool(value: str, *, what: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(
        f"{what}: {value!r} is not a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE[:-1])})"
    )


def _route_source(probe: str) -> str | None:
    """The source address the kernel would use toward ``probe`` (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in probe else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((probe, 9))
        address: str = sock.getsockname()[0]
        return address
    return None


def global_address(addresses: list[str]) -> str | None:
    """The first global unicast address (IPv4 first) of ``addresses`` (CIDRs or plain IPs)."""
    parsed = [ipaddress.ip_interface(a).ip for a in addresses]
    usable = [
        ip
        for ip in parsed
        if not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)
    ]
    usable.sort(key=lambda ip: ip.version)
    return str(usable[0]) if usable else None


def detect_host_ip(read_addresses: Callable[[], list[str]]) -> str | None:
    """The source address of the default route (IPv4, then IPv6); else the first global address."""
    for probe in ("192.0.2.1", "2001:db8::1"):  # documentation addresses: never routed anywhere real
        found = _route_source(probe)
        if found and not ipaddress.ip_address(found).is_loopback:
            return found
    return global_address(read_addresses())


def load_config(
    flags: Mapping[str, object | None],
    environ: Mapping[str, str],
    *,
    detect_ip: Callable[[], str | None],
    hostname: Callable[[], str] = socket.gethostname,
) -> DaemonConfig:
    """Settings from flags (None = not given), then environment, then defaults (module table).

    Raises ValidationError naming each bad flag or variable and what it accepts.
    """

    def raw(name: str) -> tuple[str | None, str]:
        flag = flags.get(name)
        if flag is not None:
            return str(flag), f"--{name.replace('_', '-').replace('-path', '')}"
        env = ENV[name]
        return environ.get(env), env

    problems: list[str] = []

    def take(name: str, parse: Callable[[str, str], object], default: object) -> object:
        value, what = raw(name)
        if value is None:
            return default
        try:
            return parse(value, what)
        except ValidationError as e:
            problems.extend(e.problems)
            return default

    grpc_port = take("grpc_port", lambda v, w: parse_port(v, what=w), DEFAULT_GRPC_PORT)
    grpc_bind = take("grpc_bind", lambda v, w: parse_ip(v, what=w) if v else "", "")
    http = take(
        "http_addr", lambda v, w: parse_http_addr(v, what=w), parse_http_addr(DEFAULT_HTTP_ADDR, what="")
    )
    bypass = take("tcpip_bypass", lambda v, w: parse_bool(v, what=w), False)
    bypass_cgroup = take("bypass_cgroup", lambda v, w: parse_dir(v, what=w) if v else None, None)
    bypass_pin_dir = take("bypass_pin_dir", lambda v, w: parse_dir(v, what=w), DEFAULT_BYPASS_PIN_DIR)
    insecure_local_tcp = take("insecure_local_tcp", lambda v, w: parse_bool(v, what=w), False)
    netns_dirs = take("netns_dirs", lambda v, w: parse_dirs(v, what=w), NETNS_DIRS)
    backend = take("backend", lambda v, w: parse_choice(v, BACKENDS, what=w), "sqlite")
    api_group = take("api_group", lambda v, w: parse_choice(v, TOPOLOGY_GROUPS, what=w), TOPOLOGY.group)
    host_ip = take("host_ip", lambda v, w: parse_ip(v, what=w) if v else None, None)
    socket_path = Path(raw("socket_path")[0] or DEFAULT_DAEMON_SOCKET)
    state_dir = Path(raw("state_dir")[0] or DEFAULT_STATE_DIR)
    store_path = Path(raw("store_path")[0] or state_dir / STORE_NAME)
    pidfile = Path(raw("pidfile")[0] or socket_path.parent / PIDFILE_NAME)
    log_file = raw("log_file")[0]
    node_name = raw("node_name")[0] or hostname()
    tls = _tls_files({name: raw(name) for name in TLS_SETTINGS}, problems)
    insecure_remote_tcp = take("insecure_remote_tcp", lambda v, w: parse_bool(v, what=w), False)
    max_rpcs = take("max_concurrent_rpcs", lambda v, w: parse_count(v, what=w), DEFAULT_MAX_CONCURRENT_RPCS)
    if tls is not None and insecure_remote_tcp:
        problems.append(
            f"{raw('insecure_remote_tcp')[1]}: given with {raw('tls_cert')[1]}; Remote is served "
            "either with mutual TLS or without authentication, not both: drop one"
        )
    if tls is not None and insecure_local_tcp:
        # With TLS on the port, Local would be open to every node's certificate: any node
        # could make links in any namespace of this one.
        problems.append(
            f"{raw('insecure_local_tcp')[1]}: given with {raw('tls_cert')[1]}; Local on TCP is "
            "kube-dtn's unauthenticated mode for migrations, and a node certificate must not "
            "open it: drop --insecure-local-tcp (Local is on the unix socket)"
        )
    if host_ip is None and not problems:
        host_ip = detect_ip()
        if host_ip is None:
            problems.append(
                "HOST_IP: not given and this node has no default route and no global address; "
                "set --host-ip or HOST_IP to the node's address"
            )
    if problems:
        raise ValidationError(problems)
    assert isinstance(host_ip, str) and isinstance(grpc_port, int) and isinstance(http, tuple)
    assert isinstance(netns_dirs, tuple) and isinstance(max_rpcs, int)
    return DaemonConfig(
        host_ip=host_ip,
        grpc_port=grpc_port,
        grpc_bind=str(grpc_bind),
        http_host=http[0],
        http_port=http[1],
        tcpip_bypass=bool(bypass),
        bypass_cgroup=Path(str(bypass_cgroup)) if bypass_cgroup else None,
        bypass_pin_dir=Path(str(bypass_pin_dir)),
        socket_path=socket_path,
        state_dir=state_dir,
        store_path=store_path,
        pidfile=pidfile,
        node_name=node_name,
        log_file=Path(log_file) if log_file else None,
        insecure_local_tcp=bool(insecure_local_tcp),
        netns_dirs=netns_dirs,
        backend=str(backend),
        kubeconfig=raw("kubeconfig")[0] or None,
        kube_context=raw("kube_context")[0] or None,
        api_group=str(api_group),
        tls=tls,
        insecure_remote_tcp=bool(insecure_remote_tcp),
        max_concurrent_rpcs=max_rpcs,
    )


def _tls_files(given: Mapping[str, tuple[str | None, str]], problems: list[str]) -> TlsFiles | None:
    """The three TLS files when all are given; none given: None; some: a problem."""
    present = {name: value for name, (value, _) in given.items() if value}
    if not present:
        return None
    if len(present) < len(given):
        missing = [f"--{name.replace('_', '-')} ({ENV[name]})" for name in given if name not in present]
        problems.append(
            f"{', '.join(missing)}: not given; mutual TLS needs the node's certificate, its key and "
            f"the CA all three (--tls-cert, --tls-key, --tls-ca; kubedtn certs makes them)"
        )
        return None
    return TlsFiles(cert=Path(present["tls_cert"]), key=Path(present["tls_key"]), ca=Path(present["tls_ca"]))
