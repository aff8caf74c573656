"""Suite-wide markers: root tests need root, netem tests need a kernel with sch_netem, image
tests need the images `make test-images` builds first."""

from __future__ import annotations

import os

import pytest

from tests.support import kernel


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_root = os.geteuid() == 0
    skip_root = pytest.mark.skip(reason="needs root (network namespaces, netlink, tc)")
    skip_images = pytest.mark.skip(
        reason="runs in `make test-images`, which builds the images first "
        "(KUBEDTN_TEST_IMAGES=1 tests images built already)"
    )
    images = os.environ.get("KUBEDTN_TEST_IMAGES") == "1"
    for item in items:
        needs_root = "root" in item.keywords or "netem" in item.keywords or "e2e" in item.keywords
        if needs_root and not is_root:
            item.add_marker(skip_root)
        elif "images" in item.keywords and not images:
            item.add_marker(skip_images)
        elif "netem" in item.keywords and not kernel.has_netem():
            item.add_marker(
                pytest.mark.skip(
                    reason="sch_netem is not in this kernel; this test runs in the user-mode Linux "
                    "lane (make test-uml)"
                )
            )
