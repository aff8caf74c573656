"""Name rules: Linux interface names, Kubernetes object names, link peers, link uids.

Every rule is a pattern constant (shared with the CRD schema) plus a check function
returning ``None`` when the name is fine, else the "is not ..." phrase for an error line.
Patterns stay within what both Python ``re`` and Go RE2 (the API server) understand:
no look-arounds, no inline flags.
"""

from __future__ import annotations

from typing import Final

from kubedtn.model.units import compiled

# ---- interface names ---------------------------------------------------------------------

# The kernel (dev_valid_name) takes up to 15 bytes (IFNAMSIZ - 1), anything but '/',
# ':' and whitespace, and not "." or "..". We also keep to printable ASCII so that
# "15 characters" and "15 bytes" are the same thing: ! to . , 0 to 9 , ; to ~ .
IFNAME_MAX: Final = 15
IFNAME_PATTERN: Final = r"^[!-.0-9;-~]{1,15}$"
IFNAME_INVALID: Final = (".", "..")
# Inside a pod, lo is the loopback and eth0 belongs to the primary CNI plugin.
IFNAME_RESERVED: Final = ("lo", "eth0")
IFNAME_ACCEPTS: Final = (
    "an interface name: 1-15 printable ASCII characters without '/', ':' or spaces, not '.' or '..'"
)


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


def pod_name_problem(name: str) -> str | None:
    if len(name) > DNS1123_SUBDOMAIN_MAX or not compiled(DNS1123_SUBDOMAIN_PATTERN).fullmatch(name):
        return f"is not {POD_NAME_ACCEPTS}"
    return None


def namespace_problem(name: str) -> str | None:
    if len(name) > DNS1123_LABEL_MAX or not compiled(DNS1123_LABEL_PATTERN).fullmatch(name):
        return f"is not {NAMESPACE_ACCEPTS}"
    return None


# ---- link uids ---------------------------------------------------------------------------

# The uid becomes the VXLAN VNI of a cross-node link as VXLAN_VNI_BASE + uid (kube-dtn's
# rule, so both can share a cluster's numbering), and a VNI has 24 bits.
VXLAN_VNI_BASE: Final = 5000
VNI_MAX: Final = 2**24 - 1
UID_MIN: Final = 0
UID_MAX: Final = VNI_MAX - VXLAN_VNI_BASE
UID_ACCEPTS: Final = f"a link uid: an integer {UID_MIN}..{UID_MAX} (VXLAN VNI = {VXLAN_VNI_BASE} + uid)"


def vni_for_uid(uid: int) -> int:
    """The VXLAN network identifier a link with this uid uses across nodes."""
    return VXLAN_VNI_BASE + uid
