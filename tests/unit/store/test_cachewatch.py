"""Watches served from the cache's change log (kubedtn.store.cachewatch)."""

from __future__ import annotations

import threading

import pytest

from kubedtn.store import EventType
from kubedtn.store.cachewatch import ChangeLog
from kubedtn.store.errors import ExpiredError


def _obj(name: str, rv: int) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)}}


def test_a_watch_reads_events_after_its_position_in_order_and_filters_types() -> None:
    log = ChangeLog()
    log.restart(10)
    log.append(EventType.ADDED, _obj("a", 11), 11)
    log.append(EventType.MODIFIED, _obj("a", 12), 12)
    log.append(EventType.DELETED, _obj("a", 13), 13)
    stream = log.watch(resource_version="11", timeout=0.01, types=None)
    assert [(e.type, e.object["metadata"]["resourceVersion"]) for e in stream] == [
        (EventType.MODIFIED, "12"),
        (EventType.DELETED, "13"),
    ]
    assert stream.position == 13
    only = log.watch(resource_version="10", timeout=0.01, types=(EventType.DELETED,))
    assert [e.type for e in only] == [EventType.DELETED]
    assert only.position == 13  # past the events of other types too


def test_a_waiting_watch_wakes_for_a_new_event_and_for_stop() -> None:
    log = ChangeLog()
    log.restart(5)
    stream = log.watch(resource_version="5", timeout=30, types=None)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(e.object["metadata"]["name"] for e in stream))
    reader.start()
    log.append(EventType.ADDED, _obj("b", 6), 6)
    while stream.position < 6:
        threading.Event().wait(0.001)
    stream.stop()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert got == ["b"]


def test_a_relist_expires_open_watches_and_older_positions() -> None:
    log = ChangeLog()
    log.restart(1)
    stream = log.watch(resource_version="1", timeout=5, types=None)
    log.restart(50)  # the cache listed again: changes between 1 and 50 were never events
    with pytest.raises(ExpiredError):
        next(stream)
    with pytest.raises(ExpiredError):
        next(log.watch(resource_version="20", timeout=5, types=None))
    fresh = log.watch(resource_version="50", timeout=0.01, types=None)
    assert list(fresh) == []
    assert fresh.position == 50


def test_a_reader_behind_the_kept_events_expires() -> None:
    log = ChangeLog(size=2)
    log.restart(0)
    for rv in (1, 2, 3):
        log.append(EventType.ADDED, _obj(f"o{rv}", rv), rv)
    with pytest.raises(ExpiredError):
        list(log.watch(resource_version="0", timeout=0.01, types=None))
    assert [
        e.object["metadata"]["name"] for e in log.watch(resource_version="1", timeout=0.01, types=None)
    ] == [
        "o2",
        "o3",
    ]
