"""A pod named by its Kubernetes namespace and name: what the CNI plugin, the daemon and the
lab ask about. Kept apart from the Topology types so that the CNI plugin's path imports
only this."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """``<namespace>/<name>``: the form of the pod list and of the store's keys."""
        return f"{self.namespace}/{self.name}"
