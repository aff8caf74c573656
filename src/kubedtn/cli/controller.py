"""`kubedtn controller`: the cluster-wide reconciler of Topologies (a Deployment in kubedtn-system)."""

from __future__ import annotations

import logging
import sys

import click

from kubedtn.errors import KubedtnError


@click.command()
@click.option("--kubeconfig", default=None, help="In a pod: its service account. [env KUBECONFIG]")
@click.option("--context", "kube_context", default=None, help="The kubeconfig's context to use.")
@click.option(
    "--api-group",
    type=click.Choice(["kubedtn.io", "y-young.github.io"]),
    default="kubedtn.io",
    show_default=True,
    help="The Topologies' API group; y-young.github.io for a cluster on kube-dtn's CRD.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Reconcile threads."
)
@click.option(
    "--node-grace",
    type=click.FloatRange(0.0),
    default=40.0,
    show_default=True,
    help="Seconds a node may be not Ready before its pods are recorded not running "
    "(their peers' daemons then remove their ends of its links).",
)
@click.option("--metrics-addr", default=":8080", show_default=True, help='/metrics ("off": none).')
@click.option("--health-addr", default=":8081", show_default=True, help='/healthz and /readyz ("off": none).')
@click.option(
    "--leader-elect/--no-leader-elect",
    default=True,
    show_default=True,
    help="Of several replicas only the Lease's holder acts.",
)
@click.option("--leader-elect-namespace", default="kubedtn-system", show_default=True)
@click.option("--leader-elect-name", default="kubedtn-controller", show_default=True)
@click.option("--identity", default="", help="This replica's name in the Lease. [default: host name and pid]")
@click.option("--lease-duration", type=click.IntRange(2), default=15, show_default=True, help="Seconds.")
@click.option(
    "--renew-deadline", type=click.FloatRange(0.1), default=10.0, show_default=True, help="Seconds."
)
@click.option("--retry-period", type=click.FloatRange(0.05), default=2.0, show_default=True, help="Seconds.")
@click.option("--debug", is_flag=True, help="Log debug lines too.")
def controller(
    *,
    kubeconfig: str | None,
    kube_context: str | None,
    api_group: str,
    workers: int,
    node_grace: float,
    metrics_addr: str,
    health_addr: str,
    leader_elect: bool,
    leader_elect_namespace: str,
    leader_elect_name: str,
    identity: str,
    lease_duration: int,
    renew_deadline: float,
    retry_period: float,
    debug: bool,
) -> None:
    """Run the controller: finalizers, PeersAgree/Degraded conditions, Events, and pods of
    lost nodes recorded not running. The daemons make the links; see ARCHITECTURE.md."""
    from kubedtn.controller.run import ControllerConfig, run

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = ControllerConfig(
            kubeconfig=kubeconfig,
            context=kube_context,
            api_group=api_group,
            workers=workers,
            node_grace_s=node_grace,
            metrics_addr=metrics_addr,
            health_addr=health_addr,
            leader_elect=leader_elect,
            lease_namespace=leader_elect_namespace,
            lease_name=leader_elect_name,
            identity=identity,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        )
        sys.exit(run(config))
    except (KubedtnError, ValueError) as e:
        raise click.ClickException(str(e)) from e
