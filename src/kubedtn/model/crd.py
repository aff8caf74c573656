"""The Topology CustomResourceDefinition, generated from the model.

``python -m kubedtn.model.crd`` prints it (``make manifests`` writes
``manifests/crd/kubedtn.io_topologies.yaml``). Patterns, enums and ranges come from the
same constants the validator uses (``units``, ``names``, ``addresses``, ``objects``),
so the API server and ``kubedtn topo validate`` accept the same shapes. The schema can
only judge one object and only its shape; these rules are the validator's alone:
exact IPv4/IPv6 syntax and host addresses, duplicates within the links list by
local_intf, property dependencies (jitter needs latency, ...), peer_intf reserved names
for pod peers, the IPv6 MTU minimum, and everything across objects.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from kubedtn.model import addresses, names, units
from kubedtn.model.objects import (
    API_GROUP,
    CONDITION_STATUSES,
    KIND,
    LINK_REQUIRED,
    MTU_MAX,
    MTU_MIN,
)
from kubedtn.model.types import PROPERTY_FIELDS

PLURAL: Final = "topologies"
SINGULAR: Final = "topology"
SHORT_NAMES: Final = ["topo"]
VERSION: Final = "v1"
CRD_NAME: Final = f"{PLURAL}.{API_GROUP}"

_PROPERTY_DESCRIPTIONS: Final = {
    "duration": 'Go duration text, e.g. "300ms", "1.5s", "1m30s", "10us" (ns, us/µs, ms, s, m, h).',
    "percent": 'Percentage 0-100 as text, e.g. "1", "0.5", "1%".',
    "rate": (
        "tc rate: a bare number is bit/s; suffixes bit, kbit, mbit, gbit, tbit (SI), kibit... (IEC); "
        'bps, kbps, ... are BYTES per second, e.g. "100Mbit", "1Gbit", "12500kbps".'
    ),
    "uint": "Unsigned integer (packets).",
}


def _int_or_string(pattern: str, description: str, *, lo: int, hi: int) -> dict[str, Any]:
    # The one anyOf form structural schemas allow for int-or-string; the value checks sit
    # beside it: a pattern only judges strings, minimum/maximum only judge integers.
    return {
        "description": description,
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": pattern,
        "minimum": lo,
        "maximum": hi,
    }


def properties_schema() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name, (_attr, kind) in PROPERTY_FIELDS.items():
        desc = _PROPERTY_DESCRIPTIONS[kind]
        if kind == "duration":
            props[name] = {"description": desc, "type": "string", "pattern": units.DURATION_PATTERN}
        elif kind == "percent":
            props[name] = _int_or_string(units.PERCENT_PATTERN, desc, lo=0, hi=100)
        elif kind == "rate":
            props[name] = _int_or_string(units.RATE_PATTERN, desc, lo=0, hi=units.RATE_MAX_BPS)
        else:
            props[name] = _int_or_string(units.UINT_PATTERN, desc, lo=0, hi=units.UINT32_MAX)
    return {
        "description": "Emulated properties of this end's egress (netem, tbf).",
        "type": "object",
        "properties": props,
    }


def _optional_pattern(pattern: str) -> str:
    """``^X$`` → ``^(?:X)?$``: kube-dtn writes absent strings as ""."""
    return f"^(?:{pattern[1:-1]})?$"


def link_schema() -> dict[str, Any]:
    ifname = {"type": "string", "pattern": names.IFNAME_PATTERN}
    return {
        "description": "One end of a point-to-point link.",
        "type": "object",
        "required": list(LINK_REQUIRED),
        "properties": {
            "uid": {
                "description": names.UID_ACCEPTS,
                "type": "integer",
                "minimum": names.UID_MIN,
                "maximum": names.UID_MAX,
            },
            "peer_pod": {
                "description": addresses.PEER_ACCEPTS,
                "type": "string",
                "maxLength": names.DNS1123_SUBDOMAIN_MAX,
                "pattern": addresses.PEER_POD_PATTERN,
            },
            "local_intf": {
                **ifname,
                "description": "Interface name in this pod.",
                "not": {"enum": [*names.IFNAME_INVALID, *names.IFNAME_RESERVED]},
            },
            "peer_intf": {
                **ifname,
                "description": "Interface name at the peer (a host interface for localhost).",
                "not": {"enum": list(names.IFNAME_INVALID)},
            },
            "local_ip": {
                "description": addresses.CIDR_ACCEPTS,
                "type": "string",
                "pattern": addresses.CIDR_LIST_PATTERN,
            },
            "peer_ip": {
                "description": addresses.CIDR_ACCEPTS,
                "type": "string",
                "pattern": addresses.CIDR_LIST_PATTERN,
            },
            "local_mac": {
                "description": addresses.MAC_ACCEPTS,
                "type": "string",
                "pattern": _optional_pattern(addresses.MAC_PATTERN),
            },
            "peer_mac": {
                "description": addresses.MAC_ACCEPTS,
                "type": "string",
                "pattern": _optional_pattern(addresses.MAC_PATTERN),
            },
            "mtu": {
                "description": "Link MTU (both ends alike).",
                "type": "integer",
                "minimum": MTU_MIN,
                "maximum": MTU_MAX,
            },
            "properties": properties_schema(),
            "bypass": {
                "description": (
                    "false: TCP over this link never skips the TCP/IP stack through the eBPF "
                    "bypass (TCPIP_BYPASS), as on a link with properties. Both ends alike."
                ),
                "type": "boolean",
            },
        },
    }


def condition_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "maxLength": 316},
            "status": {"type": "string", "enum": list(CONDITION_STATUSES)},
            "reason": {"type": "string", "maxLength": 1024},
            "message": {"type": "string", "maxLength": 32768},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
        },
    }


def open_api_schema() -> dict[str, Any]:
    """The ``openAPIV3Schema`` of a Topology (structural, as apiextensions.k8s.io/v1 requires)."""
    return {
        "description": "The links of one pod: point-to-point links with emulated properties.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "links": {
                        "type": "array",
                        "items": link_schema(),
                        # The API server rejects two links with one uid (and merges by uid).
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["uid"],
                    }
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "src_ip": {"description": "IP of the node the pod runs on.", "type": "string"},
                    "net_ns": {"description": "Network namespace of the pod.", "type": "string"},
                    "net_ns_id": {
                        "description": "Identity of that namespace (device:inode of net_ns).",
                        "type": "string",
                    },
                    "container_id": {
                        "description": "The runtime's id of the pod's sandbox.",
                        "type": "string",
                    },
                    "links": {
                        "description": "Links as plumbed now.",
                        "type": "array",
                        "items": link_schema(),
                    },
                    "skipped": {
                        "description": "Peer pods skipped because they were not up yet.",
                        "type": "array",
                        "items": {"type": "string"},
                    },
                    "conditions": {
                        "type": "array",
                        "items": condition_schema(),
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                    },
                },
            },
        },
    }


def custom_resource_definition(group: str = API_GROUP) -> dict[str, Any]:
    """Our CRD; ``group`` another API group for the same schema (kube-dtn's ``y-young.github.io``
    in tests of a cluster still on that group)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {"name": "Node IP", "type": "string", "jsonPath": ".status.src_ip"},
                        {"name": "Netns", "type": "string", "jsonPath": ".status.net_ns", "priority": 1},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": open_api_schema()},
                }
            ],
        },
    }


def render() -> str:
    from kubedtn.model.documents import dump_yaml

    header = (
        "# Generated by `python -m kubedtn.model.crd` (make manifests) from kubedtn.model. Do not edit.\n"
    )
    return header + dump_yaml([custom_resource_definition()])


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
