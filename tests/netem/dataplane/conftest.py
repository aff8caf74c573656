"""Fixtures of the dataplane's root tests: throwaway namespaces and a Dataplane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubedtn.dataplane import Dataplane
from tests.support.netns import NamespacePool


@pytest.fixture
def pool() -> Iterator[NamespacePool]:
    namespaces = NamespacePool()
    try:
        yield namespaces
    finally:
        namespaces.cleanup()


@pytest.fixture
def dp() -> Dataplane:
    return Dataplane()
