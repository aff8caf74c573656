"""CNI GC (1.1.0): nothing to collect here.

kubedtn keeps no per-attachment state on the node: the daemon owns every link and removes
a pod's links when its namespace is gone (it reconciles on start and on DestroyPod).
So GC succeeds without contacting anyone (and stays cheap for runtimes calling it often).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubedtn.cni.spec import Request


def handle(request: Request) -> Mapping[str, Any] | None:
    return None
