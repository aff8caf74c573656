"""LinkLocks: one holder per link, no deadlock between batches, no growth of the table."""

from __future__ import annotations

import threading

from kubedtn.daemon.locks import LinkLocks


def test_two_batches_locking_the_same_links_in_opposite_orders_both_finish() -> None:
    locks = LinkLocks()
    keys = [("default", uid) for uid in range(50)]
    done: list[str] = []

    def worker(name: str, order: list[tuple[str, int]]) -> None:
        for _ in range(200):
            with locks.holding(order):
                pass
        done.append(name)

    threads = [
        threading.Thread(target=worker, args=("fwd", keys)),
        threading.Thread(target=worker, args=("rev", list(reversed(keys)))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(done) == ["fwd", "rev"]
    assert locks.held() == 0


def test_a_held_link_excludes_a_second_holder_until_released() -> None:
    locks = LinkLocks()
    inside = threading.Event()
    release = threading.Event()
    second_in = threading.Event()

    def first() -> None:
        with locks.holding([("default", 1), ("default", 2)]):
            inside.set()
            release.wait(10)

    def second() -> None:
        with locks.holding([("default", 2)]):
            second_in.set()

    t1 = threading.Thread(target=first)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    assert not second_in.wait(0.2)  # (a bounded check that it is still waiting, not a sleep for sync)
    release.set()
    assert second_in.wait(10)
    t1.join()
    t2.join()
    assert locks.held() == 0


def test_the_same_uid_in_two_namespaces_is_two_locks() -> None:
    locks = LinkLocks()
    got = threading.Event()

    def other_namespace() -> None:
        with locks.holding([("b", 1)]):
            got.set()

    with locks.holding([("a", 1)]):
        t = threading.Thread(target=other_namespace)
        t.start()
        assert got.wait(10)
        t.join()
    assert locks.held() == 0
