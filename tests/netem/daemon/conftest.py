"""Fixtures of the daemon's netem tests: the daemon's root-test fixtures."""

from __future__ import annotations

from tests.integration.daemon.conftest import dataplane, manager, store
from tests.support.netns import pool

__all__ = ["dataplane", "manager", "pool", "store"]
