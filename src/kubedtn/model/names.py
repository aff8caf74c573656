"""Name rules: Linux interface names, Kubernetes object names, link peers, link uids.

Every rule is a pattern constant (shared with the CRD schema) plus a check function
returning ``None`` when the name is fine, else the "is not ..." phrase for an error line.
Patterns stay within what both Python ``re`` and Go RE2 (the API server) understand:
no look-arounds, no inline flags.
"""

from __future__ import annotations

import functools
from typing import Final

from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.units import compiled

# ---- interface names ---------------------------------------------------------------------

# The kernel (dev_valid_name) takes up to 15 bytes (IFNAMSIZ - 1), anything but '/',
# ':' and whitespace, and not "." or "..". We also keep to printable ASCII so that
# "15 characters" and "15 bytes" are the same thing: ! to . , 0 to 9 , ; to ~ .
IFNAME_MAX: Final = 15
IFNAME_PATTERN: Final = rf"^[!-.0-9;-~]{{1,{IFNAME_MAX}}}$"
IFNAME_INVALID: Final = (".", "..")
# Inside a pod, lo is the loopback and eth0 belongs to the primary CNI plugin.
IFNAME_RESERVED: Final = ("lo", "eth0")
IFNAME_ACCEPTS: Final = (
    "an interface name: 1-15 printable ASCII characters without '/', ':' or spaces, not '.' or '..'"
)


@functools.lru_cache(maxsize=4096)  # a topology names the same few interfaces again and again
def interface_name_problem(name: str, *, reserved: bool = True) -> str | None:
    """Why ``name`` cannot be a Linux interface in a pod (None when it can)."""
    if not compiled(IFNAME_PATTERN).fullmatch(name) or name in IFNAME_INVALID:
        return f"is not {IFNAME_ACCEPTS}"
    if reserved and name in IFNAME_RESERVED:
        return f"is reserved in a pod ({' and '.join(IFNAME_RESERVED)} are not ours to wire)"
    return None


# ---- Kubernetes names --------------------------------------------------------------------

_DNS1123_LABEL: Final = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_PATTERN: Final = rf"^{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*$"
DNS1123_SUBDOMAIN_MAX: Final = 253
DNS1123_LABEL_PATTERN: Final = rf"^{_DNS1123_LABEL}$"
DNS1123_LABEL_MAX: Final = 63
POD_NAME_ACCEPTS: Final = (
    "a pod name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters)"
)
NAMESPACE_ACCEPTS: Final = "a namespace name (DNS-1123 label: lower-case letters, digits and '-', at most 63)"


@functools.lru_cache(maxsize=4096)  # every link names its peer pod
def pod_name_problem(name: str) -> str | None:
    if len(name) > DNS1123_SUBDOMAIN_MAX or not compiled(DNS1123_SUBDOMAIN_PATTERN).fullmatch(name):
        return f"is not {POD_NAME_ACCEPTS}"
    return None


def namespace_problem(name: str) -> str | None:
    if len(name) > DNS1123_LABEL_MAX or not compiled(DNS1123_LABEL_PATTERN).fullmatch(name):
        return f"is not {NAMESPACE_ACCEPTS}"
    return None


# ---- link uids ---------------------------------------------------------------------------

# A link's uid becomes the VXLAN VNI of its cross-node end (a VNI has 24 bits). In the
# Kubernetes namespace "default" the VNI is VXLAN_VNI_BASE + uid, kube-dtn's rule, so the
# samples and kube-dtn's numbering carry over unchanged. kube-dtn uses that rule in every
# namespace, so two namespaces that both use uid 1 collide ("vxlan add failed: file
# exists"). We keep namespaces apart by rotating each namespace's uids by a fixed offset
# derived from its name:
#
#     VNI = VXLAN_VNI_BASE + (uid + offset(namespace)) mod UID_SPACE
#
# with offset("default") = 0 and otherwise a stable hash of the name. Within a namespace
# the map is one-to-one (uids are unique there, so VNIs are too); links of two namespaces
# share a VNI only when their uids differ by exactly the difference of the two offsets,
# which the daemon detects and reports naming both links (a VNI need only be unique among
# the VXLAN ends on one node).
VXLAN_VNI_BASE: Final = 5000
VNI_MAX: Final = 2**24 - 1
UID_MIN: Final = 0
UID_MAX: Final = VNI_MAX - VXLAN_VNI_BASE
UID_SPACE: Final = UID_MAX - UID_MIN + 1
UID_ACCEPTS: Final = (
    f"a link uid: an integer {UID_MIN}..{UID_MAX} "
    f"(its VXLAN VNI: {VXLAN_VNI_BASE} + uid in namespace default)"
)


def namespace_vni_offset(namespace: str) -> int:
    """How far ``namespace`` rotates its uids in the VNI space (0 for "default")."""
    if namespace == DEFAULT_NAMESPACE:
        return 0
    import hashlib  # here: the CNI plugin imports this module and never needs it

    digest = hashlib.sha256(namespace.encode()).digest()
    return int.from_bytes(digest[:8], "big") % UID_SPACE


def naming_uid(problems: list[str], uid: object, *, start: int = 0, uid_path: str = "") -> None:
    """Ends each problem line about one link from ``start`` on with its uid, ``(uid 7)``: a
    list index alone changes as links are added or removed, the uid is how the user knows
    the link. Lines about the uid itself (their path is ``uid_path``) already show it."""
    if not isinstance(uid, int) or isinstance(uid, bool):
        return
    for i in range(start, len(problems)):
        if not uid_path or uid_path not in problems[i]:
            problems[i] = f"{problems[i]} (uid {uid})"


def vni_for_link(namespace: str, uid: int) -> int:
    """The VXLAN network identifier of link ``uid`` of the pods in ``namespace``."""
    return VXLAN_VNI_BASE + (uid + namespace_vni_offset(namespace)) % UID_SPACE


def uid_for_vni(namespace: str, vni: int) -> int | None:
    """The uid whose link in ``namespace`` has this VNI (None: no uid maps to it)."""
    if not VXLAN_VNI_BASE <= vni <= VNI_MAX:
        return None
    return (vni - VXLAN_VNI_BASE - namespace_vni_offset(namespace)) % UID_SPACE
