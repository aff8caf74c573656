"""Fixtures of the chaos tests: throwaway namespaces."""

from __future__ import annotations

from tests.support.netns import pool

__all__ = ["pool"]  # a fixture
