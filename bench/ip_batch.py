"""The iproute2 baselines of the dataplane benchmarks: the same links, written as ``ip -batch`` files.

The layouts here (which namespaces, names, addresses, MACs, VNIs) are shared with
``bench/dataplane.py``, so both sides build exactly the same thing: every link with its
addresses, MAC, MTU 1400, up, interface group and alias ("kubedtn uid=N") as kubedtn sets
them. ``ip -batch`` cannot switch namespaces per line, so links are created in one batch
(both ends placed with ``netns``) and every namespace then runs its own
``ip -n NS -batch`` for addresses and up.

Write the files to look at or run them by hand::

    python -m bench.ip_batch veth DIR      # DIR/create.batch, DIR/configure-NS.batch, DIR/delete-NS.batch
    python -m bench.ip_batch vxlan DIR
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubedtn.dataplane import KUBEDTN_GROUP
from kubedtn.dataplane.qdisc import tbf_params

MTU = 1400
VXLAN_UNDERLAY = "under0"
VXLAN_LOCAL = "192.168.200.1"
VXLAN_REMOTE = "192.168.200.2"
VXLAN_VNI_BASE = 10000


@dataclass(frozen=True)
class VethLink:
    uid: int
    a: int  # namespace index of end a
    b: int
    a_name: str
    b_name: str
    a_ip: str
    b_ip: str
    a_mac: str
    b_mac: str


def veth_layout(namespaces: int, links: int) -> list[VethLink]:
    """links veth pairs spread evenly: link l joins namespace l % n to one of the next five."""
    out = []
    for uid in range(links):
        a = uid % namespaces
        b = (uid + 1 + uid // namespaces) % namespaces
        hi, lo = divmod(uid, 256)
        out.append(
            VethLink(
                uid=uid,
                a=a,
                b=b,
                a_name=f"e{uid}a",
                b_name=f"e{uid}b",
                a_ip=f"10.{hi}.{lo}.1/30",
                b_ip=f"10.{hi}.{lo}.2/30",
                a_mac=f"02:00:00:00:{hi:02x}:{lo:02x}",
                b_mac=f"02:00:01:00:{hi:02x}:{lo:02x}",
            )
        )
    return out


@dataclass(frozen=True)
class VxlanLink:
    uid: int
    pod: int
    name: str
    vni: int
    ip: str
    mac: str


def vxlan_layout(pods: int, links: int) -> list[VxlanLink]:
    out = []
    for uid in range(links):
        hi, lo = divmod(uid, 256)
        out.append(
            VxlanLink(
                uid=uid,
                pod=uid % pods,
                name=f"vx{uid // pods}",
                vni=VXLAN_VNI_BASE + uid,
                ip=f"172.16.{hi}.{lo}/32",
                mac=f"02:01:00:00:{hi:02x}:{lo:02x}",
            )
        )
    return out


@dataclass(frozen=True)
class Batches:
    create: Path
    create_prefix: tuple[str, ...] = ()  # global ip options for the create batch (-n NODE)
    configure: list[tuple[str, Path]] = field(default_factory=list)  # (namespace, file)
    delete: list[tuple[str, Path]] = field(default_factory=list)


def _write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _up(name: str, uid: int) -> str:
    return f'link set {name} up alias "kubedtn uid={uid}"'


def write_veth(names: Sequence[str], directory: Path, *, links: int) -> Batches:
    create: list[str] = []
    configure: dict[int, list[str]] = {i: [] for i in range(len(names))}
    delete: dict[int, list[str]] = {i: [] for i in range(len(names))}
    for link in veth_layout(len(names), links):
        common = f"mtu {MTU} group {KUBEDTN_GROUP}"
        create.append(
            f"link add name {link.a_name} netns {names[link.a]} address {link.a_mac} {common} type veth "
            f"peer name {link.b_name} netns {names[link.b]} address {link.b_mac} {common}"
        )
        configure[link.a] += [f"addr add {link.a_ip} dev {link.a_name}", _up(link.a_name, link.uid)]
        configure[link.b] += [f"addr add {link.b_ip} dev {link.b_name}", _up(link.b_name, link.uid)]
        delete[link.a].append(f"link del {link.a_name}")
    return Batches(
        create=_write(directory / "create.batch", create),
        configure=[
            (names[i], _write(directory / f"configure-{names[i]}.batch", c)) for i, c in configure.items()
        ],
        delete=[(names[i], _write(directory / f"delete-{names[i]}.batch", d)) for i, d in delete.items()],
    )


def write_vxlan(node: str, pods: Sequence[str], directory: Path, *, links: int) -> Batches:
    create: list[str] = []
    configure: dict[int, list[str]] = {i: [] for i in range(len(pods))}
    delete: dict[int, list[str]] = {i: [] for i in range(len(pods))}
    for link in vxlan_layout(len(pods), links):
        create.append(
            f"link add {link.name} netns {pods[link.pod]} address {link.mac} mtu {MTU} group {KUBEDTN_GROUP} "
            f"type vxlan id {link.vni} remote {VXLAN_REMOTE} local {VXLAN_LOCAL} dev {VXLAN_UNDERLAY} "
            f"dstport 4789 nolearning"
        )
        configure[link.pod] += [f"addr add {link.ip} dev {link.name}", _up(link.name, link.uid)]
        delete[link.pod].append(f"link del {link.name}")
    return Batches(
        create=_write(directory / "create.batch", create),
        create_prefix=("-n", node),
        configure=[
            (pods[i], _write(directory / f"configure-{pods[i]}.batch", c)) for i, c in configure.items()
        ],
        delete=[(pods[i], _write(directory / f"delete-{pods[i]}.batch", d)) for i, d in delete.items()],
    )


def write_netns(names: Sequence[str], directory: Path) -> tuple[Path, Path]:
    return (
        _write(directory / "netns-add.batch", [f"netns add {n}" for n in names]),
        _write(directory / "netns-del.batch", [f"netns del {n}" for n in names]),
    )


def tc_tbf_change(netns: str, dev: str, *, rate_bps: int) -> list[str]:
    """``tc qdisc change`` of the root tbf kubedtn makes, with kubedtn's bucket and queue."""
    p = tbf_params(rate_bps)
    return [
        "tc", "-n", netns, "qdisc", "change", "dev", dev, "root", "handle", "3:", "tbf",
        "rate", f"{rate_bps}bit", "burst", str(p.burst), "limit", str(p.limit),
    ]  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("veth", "vxlan"):
        sys.exit(__doc__)
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    if sys.argv[1] == "veth":
        ns = [f"kdtnb-v-{i}" for i in range(200)]
        b = write_veth(ns, out, links=1000)
    else:
        ns = [f"kdtnb-x-{i}" for i in range(200)]
        b = write_vxlan("kdtnb-node", ns, out, links=1000)
    print(f"# namespaces {ns[0]} .. {ns[-1]} must exist (ip netns add); then:")
    print(f"ip {' '.join(b.create_prefix)} -batch {b.create}".replace("  ", " "))
    print(f"for f in {out}/configure-*.batch; do n=${{f#*configure-}}; ip -n ${{n%.batch}} -batch $f; done")
