"""Fixtures of the lab's netem tests: the lab's root-test fixtures."""

from __future__ import annotations

from tests.integration.lab.conftest import lab

__all__ = ["lab"]
