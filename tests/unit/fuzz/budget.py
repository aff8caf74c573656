"""The fuzz lane's example counts: modest by default (the lane runs in ``make test``);
``FUZZ_EXAMPLES=N`` sets every test's count for a longer run."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> settings:
    """Settings of a fuzz test: ``default`` examples unless FUZZ_EXAMPLES says otherwise."""
    count = int(os.environ.get("FUZZ_EXAMPLES") or default)
    return settings(
        max_examples=count,
        deadline=None,  # a loaded CI machine: no per-example timing
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
