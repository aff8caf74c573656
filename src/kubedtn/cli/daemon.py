"""`kubedtn daemon`: the node daemon (thin: read settings, maybe install the CNI plugin, serve).

Every setting is a flag and an environment variable (see ``kubedtn.daemon.config``).
"""

from __future__ import annotations

import os
import sys

import click

from kubedtn.cni.rules import (
    DEFAULT_CNI_BIN_DIR,
    DEFAULT_CNI_CONF_DIR,
    DEFAULT_CONFLIST_NAME,
    DEFAULT_DAEMON_SOCKET,
    DEFAULT_STATE_DIR,
)
from kubedtn.errors import KubedtnError


@click.command()
@click.option(
    "--grpc-port",
    default=None,
    help="TCP port of the gRPC Local/Remote services (0: any free). [env GRPC_PORT, default 51111]",
)
@click.option(
    "--grpc-bind", default=None, help="Address the gRPC port binds. [env GRPC_BIND, default: every interface]"
)
@click.option(
    "--http-addr", default=None, help='HOST:PORT of /metrics ("off": none). [env HTTP_ADDR, default ":51112"]'
)
@click.option(
    "--host-ip",
    default=None,
    help="This node's IP (VXLAN endpoint). [env HOST_IP, default: the default route's source]",
)
@click.option(
    "--tcpip-bypass/--no-tcpip-bypass",
    default=None,
    help="Accepted for kube-dtn compatibility; not part of this build. [env TCPIP_BYPASS]",
)
@click.option(
    "--socket",
    "socket_path",
    default=None,
    help=f"Unix socket of the Local service. [env KUBEDTN_SOCKET, default {DEFAULT_DAEMON_SOCKET}]",
)
@click.option(
    "--state-dir",
    default=None,
    help=f"Store and topology pod list. [env KUBEDTN_STATE_DIR, default {DEFAULT_STATE_DIR}]",
)
@click.option(
    "--store",
    "store_path",
    default=None,
    help="Topology store file. [env KUBEDTN_STORE, default STATE_DIR/store.db]",
)
@click.option(
    "--insecure-local-tcp/--no-insecure-local-tcp",
    default=None,
    help="Serve Local on GRPC_PORT too, unauthenticated (kube-dtn clients call it over TCP): anyone "
    "who reaches the port can make links in any namespace. [env KUBEDTN_INSECURE_LOCAL_TCP, default off]",
)
@click.option(
    "--netns-dirs",
    default=None,
    help="Comma-separated directories a request may name pods' namespaces in (besides "
    "/proc/PID/ns/net). [env KUBEDTN_NETNS_DIRS, default /run/netns,/var/run/netns,"
    "/run/docker/netns,/var/run/docker/netns]",
)
@click.option(
    "--backend",
    type=click.Choice(["sqlite", "kubernetes"]),
    default=None,
    help="Where Topologies live: the --store file, or the Kubernetes API (in a pod: its service "
    "account; else --kubeconfig). [env KUBEDTN_BACKEND, default sqlite]",
)
@click.option("--kubeconfig", default=None, help="With --backend kubernetes. [env KUBECONFIG]")
@click.option(
    "--kube-context", default=None, help="The kubeconfig's context to use. [env KUBEDTN_KUBE_CONTEXT]"
)
@click.option(
    "--api-group",
    type=click.Choice(["kubedtn.io", "y-young.github.io"]),
    default=None,
    help="The Topologies' API group; y-young.github.io for a cluster on kube-dtn's CRD. "
    "[env KUBEDTN_API_GROUP, default kubedtn.io]",
)
@click.option(
    "--tls-cert",
    default=None,
    help="This node's certificate (PEM; IP SAN = HOST_IP): Remote is served and called with mutual "
    "TLS. [env KUBEDTN_TLS_CERT; with --tls-key and --tls-ca; kubedtn certs makes them]",
)
@click.option("--tls-key", default=None, help="Its private key (PEM). [env KUBEDTN_TLS_KEY]")
@click.option("--tls-ca", default=None, help="The cluster CA's certificate (PEM). [env KUBEDTN_TLS_CA]")
@click.option(
    "--insecure-remote-tcp/--no-insecure-remote-tcp",
    default=None,
    help="Without --tls-cert, serve Remote on GRPC_PORT unauthenticated, as kube-dtn did: anyone who "
    "reaches the port can ask for link ends. [env KUBEDTN_INSECURE_REMOTE_TCP, default off]",
)
@click.option(
    "--max-concurrent-rpcs",
    default=None,
    help="Requests each listener holds at once (running or waiting), and plain-socket connections; "
    "more are answered RESOURCE_EXHAUSTED. [env KUBEDTN_MAX_CONCURRENT_RPCS, default 512]",
)
@click.option("--pidfile", default=None, help="[env KUBEDTN_PIDFILE, default: beside the socket, daemon.pid]")
@click.option("--node-name", default=None, help="For logs. [env NODE_NAME, default: the host name]")
@click.option("--log-file", default=None, help="Log here instead of stderr. [env KUBEDTN_DAEMON_LOG]")
@click.option(
    "--netns",
    default=None,
    metavar="NAME|PATH",
    help="Run inside this network namespace (a name in /run/netns or a path), entered before "
    "anything else: the node namespace of a simulated node (kubedtn lab up --nodes).",
)
@click.option("--debug", is_flag=True, help="Log debug lines too.")
@click.option(
    "--install-cni", is_flag=True, help="Install the CNI plugin and its chained conflist, then serve."
)
@click.option("--uninstall-cni", is_flag=True, help="Remove exactly what --install-cni added, then exit.")
@click.option(
    "--cni-bin-dir", default=DEFAULT_CNI_BIN_DIR, show_default=True, help="Where runtimes find CNI plugins."
)
@click.option(
    "--cni-conf-dir", default=DEFAULT_CNI_CONF_DIR, show_default=True, help="Where runtimes find CNI configs."
)
@click.option(
    "--cni-conflist-name", default=DEFAULT_CONFLIST_NAME, show_default=True, help="Our conflist's file name."
)
@click.option("--cni-executable", default=None, help="File to install as the plugin (default: this zipapp).")
@click.option(
    "--cni-python-runtime",
    default="auto",
    show_default=True,
    metavar="DIR|auto|none",
    help="A Python runtime built by hack/portable-python.sh, copied to STATE_DIR/python/ for the "
    "plugin to run on, so the node needs no Python. auto: /usr/lib/kubedtn/python when present "
    "(the node image's); none: the plugin runs on the Python running this install.",
)
def daemon(
    *,
    debug: bool,
    install_cni: bool,
    uninstall_cni: bool,
    cni_bin_dir: str,
    cni_conf_dir: str,
    cni_conflist_name: str,
    cni_executable: str | None,
    cni_python_runtime: str,
    netns: str | None,
    **flags: object,
) -> None:
    """Run the node daemon: gRPC on GRPC_PORT and a unix socket, metrics on HTTP_ADDR.

    Pods come up (SetupPod) and go down (DestroyPod) through it; on start it
    reconciles the pods recorded alive on this node. Stops on SIGTERM/SIGINT.
    """
    if netns:
        _enter_netns(netns)
    import logging

    from kubedtn.daemon.config import load_config
    from kubedtn.daemon.logs import configure_logging
    from kubedtn.daemon.run import detect_addresses, run

    try:
        from kubedtn.daemon.config import detect_host_ip

        config = load_config(flags, os.environ, detect_ip=lambda: detect_host_ip(detect_addresses))
    except KubedtnError as e:
        raise click.ClickException(str(e)) from e
    configure_logging(log_file=config.log_file, level=logging.DEBUG if debug else logging.INFO)
    if install_cni or uninstall_cni:
        from kubedtn.cni import install

        try:
            if uninstall_cni:
                for line in install.uninstall_cni(state_dir=str(config.state_dir)).lines():
                    click.echo(line)
                return
            report = install.install_cni(
                executable=cni_executable,
                python_runtime=cni_python_runtime,
                bin_dir=cni_bin_dir,
                conf_dir=cni_conf_dir,
                conflist_name=cni_conflist_name,
                state_dir=str(config.state_dir),
                plugin_options={
                    "daemonSocket": str(config.socket_path),
                    "podList": str(config.pod_list_path),
                },
            )
        except KubedtnError as e:
            raise click.ClickException(str(e)) from e
        for line in report.lines():
            click.echo(line, err=True)
    sys.exit(run(config))


def _enter_netns(netns: str) -> None:
    """Enters the node namespace before any socket or thread exists (they inherit it)."""
    from kubedtn.dataplane.errors import DataplaneError
    from kubedtn.dataplane.netns import enter_for_good, netns_path

    path = netns_path(netns)
    try:
        enter_for_good(path)
    except DataplaneError as e:
        raise click.ClickException(f"--netns: {e}") from e
