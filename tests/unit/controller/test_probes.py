"""The controller's HTTP endpoints: liveness, readiness from the caller's check, metrics."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from kubedtn.controller.probes import Endpoint, health_endpoint, metrics_endpoint, parse_address


def get(endpoint: Endpoint, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def ready() -> list[bool]:
    return [False]


@pytest.fixture
def health(ready: list[bool]) -> Iterator[Endpoint]:
    endpoint = health_endpoint("127.0.0.1:0", lambda: (ready[0], "the caches have not synced")).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def test_healthz_answers_while_readyz_follows_the_check(health: Endpoint, ready: list[bool]) -> None:
    assert health.port > 0
    assert get(health, "/healthz") == (200, "ok\n")
    assert get(health, "/readyz") == (503, "not ready: the caches have not synced\n")
    ready[0] = True
    assert get(health, "/readyz") == (200, "ok\n")
    assert get(health, "/metrics")[0] == 404  # metrics live on the other address


def test_a_failing_readiness_check_is_not_ready() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("no informer")

    endpoint = health_endpoint("127.0.0.1:0", broken).start()
    try:
        assert get(endpoint, "/readyz") == (503, "not ready: the readiness check failed: no informer\n")
    finally:
        endpoint.stop()


def test_metrics_serve_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("kubedtn_controller_reconciles", "Reconciles.", registry=registry).inc(3)
    endpoint = metrics_endpoint(registry, "127.0.0.1:0").start()
    try:
        status, text = get(endpoint, "/metrics")
    finally:
        endpoint.stop()
    assert status == 200 and "kubedtn_controller_reconciles_total 3.0" in text


def test_bind_addresses() -> None:
    assert parse_address(":8081") == ("", 8081)
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    with pytest.raises(ValueError, match="bind address '8080'"):
        parse_address("8080")
