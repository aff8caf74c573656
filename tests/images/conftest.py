"""The image lane's fixtures: podman, a network namespace per test, the API server double."""

from tests.support.images import netns, podman
from tests.support.kubeapi.fixture import kubeapi

__all__ = ["kubeapi", "netns", "podman"]
