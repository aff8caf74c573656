from __future__ import annotations

from kubedtn.daemon.parts import disjoint_parts

# Links by name -> the namespaces of their ends.
ENDS = {
    "a1": ["pa"],
    "a2": ["pa"],
    "b1": ["pb"],
    "b2": ["pb"],
    "c1": ["pc"],
    "ab": ["pa", "pb"],
}


def parts(keys: list[str], size: int) -> list[list[str]]:
    return disjoint_parts(keys, ENDS.__getitem__, size=size)


def test_links_of_separate_namespaces_are_cut_into_parts_of_the_size() -> None:
    assert parts(["a1", "b1", "a2", "b2", "c1"], 2) == [["a1", "a2"], ["b1", "b2"], ["c1"]]


def test_no_namespace_is_in_two_parts() -> None:
    # "ab" joins pa and pb: their links cannot be apart.
    assert parts(["a1", "b1", "ab", "c1", "b2"], 1) == [["a1", "b1", "ab", "b2"], ["c1"]]


def test_a_small_tail_joins_the_part_before() -> None:
    assert parts(["a1", "a2", "b1", "b2", "c1"], 4) == [["a1", "a2", "b1", "b2", "c1"]]


def test_one_connected_piece_stays_whole_in_its_order() -> None:
    assert parts(["b1", "ab", "a1"], 1) == [["b1", "ab", "a1"]]


def test_nothing_gives_one_empty_part() -> None:
    assert parts([], 3) == [[]]
