"""Fixtures of the dataplane's root tests: throwaway namespaces and a Dataplane."""

from __future__ import annotations

import pytest

from kubedtn.dataplane import NetlinkDataplane
from tests.support.netns import pool

__all__ = ["dp", "pool"]


@pytest.fixture
def dp() -> NetlinkDataplane:
    return NetlinkDataplane()
