"""The daemon process's own settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kubedtn.daemon.run import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_collector_skips_what_start_up_made_and_runs_rarely(restored_gc: None) -> None:
    made_at_start_up = [[i] for i in range(1000)]  # containers: the collector tracks them
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() >= len(made_at_start_up)
