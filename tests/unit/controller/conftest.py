"""Clients of the API server double for the controller's tests, each with its own User-Agent
(so that a fault can cut off one replica), and the kubedtn-system namespace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from kubedtn.store.kube import api_client
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import kubeapi

__all__ = ["kubeapi"]  # a fixture

ClientFactory = Callable[[str], k8s.ApiClient]


@pytest.fixture
def clients(kubeapi: KubeApiServer, tmp_path: Path) -> Iterator[ClientFactory]:
    kubeapi.create("", "v1", "namespaces", {"metadata": {"name": "kubedtn-system"}})
    made: list[k8s.ApiClient] = []

    def make(user_agent: str) -> k8s.ApiClient:
        client = api_client(kubeconfig=str(tmp_path / "kubeconfig"))
        client.user_agent = user_agent
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            client.close()
