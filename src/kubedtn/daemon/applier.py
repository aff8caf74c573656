"""Links handed to the dataplane, with the second chances a node's state calls for.

``LinkApplier.apply_links`` sends one ``Dataplane.apply`` for a batch (one per Kubernetes
namespace when uids repeat across namespaces), then:

* a VXLAN end refused because its VNI is taken on this node: a leftover holder (an end
  left from a pod's earlier life) is removed and the link made again; a live link holding
  it gives an error naming both links;
* a link refused because the kernel has no sch_netem is made again with its rate only,
  and a note says which properties were not applied.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace

from kubedtn.daemon.locks import LinkKey
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.vnis import Holder, owners_here, settle
from kubedtn.dataplane import (
    ApplyReport,
    Dataplane,
    Endpoint,
    InterfaceRef,
    LinkResult,
    LinkSpec,
    NetemMissingError,
    VethSpec,
    VniInUseError,
    validate_links,
)
from kubedtn.dataplane.netns import RUN_NETNS
from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.model import LinkProperties, Topology

log = EventLog(logging.getLogger(__name__))

PLUMBED_OUTCOMES = ("created", "kept", "updated", "replaced")

Results = dict[LinkKey, LinkResult | KubedtnError]


class LinkApplier:
    """Applies batches of link specs on this node (see the module docstring)."""

    def __init__(
        self, *, dataplane: Dataplane, node: NodeInfo, pods_here: Callable[[], list[Topology]]
    ) -> None:
        self.dataplane = dataplane
        self.node = node
        self._pods_here = pods_here

    def apply_links(
        self, chosen: Mapping[LinkKey, LinkSpec], *, prune: set[str]
    ) -> tuple[Results, dict[LinkKey, str]]:
        """One apply, then the second chances. The result per link, and a note per link
        applied without its netem properties."""
        results = self._apply(chosen, prune=prune)
        self._settle_taken_vnis(chosen, results)
        return results, self._without_netem(chosen, results)

    def _settle_taken_vnis(self, chosen: Mapping[LinkKey, LinkSpec], results: Results) -> None:
        """VXLAN ends refused because their VNI is taken on this node: a leftover holder is
        removed and the link made again; a live link holding it makes a precise error naming
        both links. Updates ``results``."""
        taken = {
            key: result.error.vni
            for key, result in results.items()
            if isinstance(result, LinkResult) and isinstance(result.error, VniInUseError)
        }
        if not taken:
            return
        holders = self._vxlan_holders(set(taken.values()))
        owners = owners_here(self._pods_here())
        stale: set[Holder] = set()
        again: dict[LinkKey, LinkSpec] = {}
        for key, vni in taken.items():
            verdict = settle(vni, key, holders, owners)
            if verdict.collision is not None:
                spec = chosen[key]
                ours = f"{key[0]} link {key[1]} ({spec.endpoints[0].name})"
                results[key] = ValidationError(
                    f"{ours}: VXLAN VNI {vni} is already used on node {self.node.ip} by "
                    f"{verdict.collision.describe()}; the two links' uids map to the same VNI "
                    "(see kubedtn.model.names.vni_for_link): change the uid of one of them"
                )
                continue
            stale.update(verdict.stale)
            again[key] = chosen[key]
        if stale:
            log.warning("removing VXLAN ends left over from an earlier life", ends=len(stale))
            self.dataplane.remove(InterfaceRef(h.netns, h.name) for h in stale)
        if again:
            results.update(self._apply(again, prune=set()))

    def _vxlan_holders(self, vnis: set[int]) -> list[Holder]:
        """Our VXLAN interfaces with one of ``vnis`` whose tunnel starts at this node, in any
        named namespace (where runtimes and the lab keep pods) or recorded pod namespace."""
        paths = {t.status.net_ns for t in self._pods_here()}
        with contextlib.suppress(OSError):
            paths.update(os.path.join(RUN_NETNS, name) for name in os.listdir(RUN_NETNS))
        holders: list[Holder] = []
        for path in sorted(paths):
            try:
                interfaces = self.dataplane.read(path, owned_only=True)
            except KubedtnError:
                continue  # gone meanwhile, or not a namespace
            holders += [
                Holder(path, i.name, i.vxlan.vni)
                for i in interfaces
                if i.vxlan is not None and i.vxlan.vni in vnis and i.vxlan.local == self.node.ip
            ]
        return holders

    def _without_netem(self, chosen: Mapping[LinkKey, LinkSpec], results: Results) -> dict[LinkKey, str]:
        """Links refused only because this kernel has no sch_netem are applied again with what
        it can do (the rate, as tbf): a lab on such a kernel still comes up, and says what is
        missing. Updates ``results``; returns a note per degraded link."""
        refused = [
            key
            for key, result in results.items()
            if isinstance(result, LinkResult) and isinstance(result.error, NetemMissingError)
        ]
        if not refused:
            return {}
        degraded = {key: rate_only(chosen[key]) for key in refused}
        notes = {key: netem_note(chosen[key]) for key in refused}
        for key, note in notes.items():
            log.warning(
                "applying a link without its netem properties", link=key[1], namespace=key[0], note=note
            )
        results.update(self._apply(degraded, prune=set()))
        return notes

    def _apply(self, chosen: Mapping[LinkKey, LinkSpec], *, prune: set[str]) -> Results:
        """One Dataplane.apply for all links (one per Kubernetes namespace when uids repeat
        across namespaces: the dataplane wants unique uids per call)."""
        if not chosen and not prune:
            return {}
        groups: list[list[LinkKey]] = [list(chosen)]
        uids = [uid for _, uid in chosen]
        if len(set(uids)) != len(uids):
            by_ns: dict[str, list[LinkKey]] = {}
            for key in chosen:
                by_ns.setdefault(key[0], []).append(key)
            groups = list(by_ns.values())
        out: Results = {}
        for group in groups:
            netns = {ep.netns for k in group for ep in chosen[k].endpoints}
            out.update(self._apply_group(chosen, group, prune & netns if len(groups) > 1 else prune))
        return out

    def _apply_group(
        self, chosen: Mapping[LinkKey, LinkSpec], group: list[LinkKey], prune: set[str]
    ) -> Results:
        """Dataplane.apply of the links ``group`` (keys of ``chosen``), a result per link."""
        specs = [chosen[k] for k in group]
        try:
            report: ApplyReport = self.dataplane.apply(specs, prune=sorted(prune), strict=False)
        except ValidationError as e:
            # The model checked every link already; should the dataplane still refuse some,
            # keep them out and apply the others.
            log.error("dataplane refused links of the batch", links=len(specs), error=e)
            out: Results = {}
            bad = {k: err for k in group if (err := spec_error(chosen[k])) is not None}
            out.update(bad)
            good = [k for k in group if k not in bad]
            if good and len(good) < len(group):
                out.update(self._apply({k: chosen[k] for k in good}, prune=prune))
            else:
                out.update({k: e for k in good})
            return out
        except KubedtnError as e:
            log.error("dataplane apply failed", links=len(specs), error=e)
            return {k: e for k in group}
        return dict(zip(group, report.results, strict=True))


def rate_only(spec: LinkSpec) -> LinkSpec:
    """The spec with each end keeping only its rate (tbf needs no netem). An end that asked
    for properties keeps the TCP/IP bypass's marker all the same (``bypass`` False): its
    TCP takes the stack, as it would with them."""

    def strip(ep: Endpoint) -> Endpoint:
        rate = LinkProperties(rate_bps=ep.properties.rate_bps)
        return replace(ep, properties=rate, bypass=ep.bypass and ep.properties.is_empty())

    if isinstance(spec, VethSpec):
        return replace(spec, a=strip(spec.a), b=strip(spec.b))
    return replace(spec, endpoint=strip(spec.endpoint))


def netem_note(spec: LinkSpec) -> str:
    """``link 1: latency, loss on /run/netns/x/eth1 not applied: sch_netem is missing in this kernel``."""
    ends = []
    for ep in spec.endpoints:
        names = [n for n in ep.properties.to_strings() if n != "rate"]
        if names:
            ends.append(f"{', '.join(names)} on {ep.netns}/{ep.name}")
    return f"link {spec.uid}: {'; '.join(ends)} not applied: sch_netem is missing in this kernel"


def spec_error(spec: LinkSpec) -> ValidationError | None:
    try:
        validate_links([spec])
    except ValidationError as e:
        return ValidationError([f"link {spec.uid}: {p.removeprefix('links[0].')}" for p in e.problems])
    return None
