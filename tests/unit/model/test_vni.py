"""The VNI scheme: kube-dtn's numbering in "default", namespaces rotated apart elsewhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubedtn.model.names import (
    UID_MAX,
    UID_MIN,
    VNI_MAX,
    VXLAN_VNI_BASE,
    namespace_vni_offset,
    uid_for_vni,
    vni_for_link,
)

uids = st.integers(min_value=UID_MIN, max_value=UID_MAX)
namespaces = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


def test_default_keeps_kube_dtn_numbering() -> None:
    assert vni_for_link("default", 1) == 5001
    assert vni_for_link("default", UID_MAX) == VNI_MAX


def test_the_same_uid_in_two_namespaces_gets_two_vnis() -> None:
    assert len({vni_for_link(ns, 1) for ns in ("default", "blue", "green", "lab2")}) == 4


def test_the_offset_is_stable_across_processes() -> None:
    # A hash seeded per process (Python's hash()) would give each daemon another VNI.
    assert namespace_vni_offset("blue") == namespace_vni_offset("blue") != 0
    assert vni_for_link("blue", 7) == VXLAN_VNI_BASE + (7 + namespace_vni_offset("blue")) % (UID_MAX + 1)


@given(namespaces, uids)
def test_every_vni_is_a_valid_24_bit_vni_above_the_base(ns: str, uid: int) -> None:
    assert VXLAN_VNI_BASE <= vni_for_link(ns, uid) <= VNI_MAX


@given(namespaces, uids)
def test_the_uid_comes_back_from_the_vni(ns: str, uid: int) -> None:
    assert uid_for_vni(ns, vni_for_link(ns, uid)) == uid


@given(namespaces, uids, uids)
def test_within_a_namespace_distinct_uids_get_distinct_vnis(ns: str, a: int, b: int) -> None:
    assert (vni_for_link(ns, a) == vni_for_link(ns, b)) == (a == b)


def test_vnis_outside_the_range_map_to_no_uid() -> None:
    assert uid_for_vni("default", VXLAN_VNI_BASE - 1) is None
    assert uid_for_vni("blue", VNI_MAX + 1) is None
