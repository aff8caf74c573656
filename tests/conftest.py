"""Suite-wide markers: root tests need root, netem tests need a kernel with sch_netem."""

from __future__ import annotations

import os

import pytest

from tests.support import kernel


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_root = os.geteuid() == 0
    skip_root = pytest.mark.skip(reason="needs root (network namespaces, netlink, tc)")
    for item in items:
        needs_root = "root" in item.keywords or "netem" in item.keywords or "e2e" in item.keywords
        if needs_root and not is_root:
            item.add_marker(skip_root)
        elif "netem" in item.keywords and not kernel.has_netem():
            item.add_marker(
                pytest.mark.skip(
                    reason="sch_netem is not in this kernel; this test runs in the user-mode Linux "
                    "lane (make test-uml)"
                )
            )
