"""Faults a test switches on: errors, silence, latency, conflict storms, dropped watches."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from tests.support.kubeapi.client import call, watching
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import PODS, TOPOS, pod, topology, with_topologies


def test_failing_requests_of_one_resource_for_a_while(kubeapi: KubeApiServer) -> None:
    # "HTTP Status codes": 503 ServiceUnavailable, to be retried with backoff, as a Status.
    api = with_topologies(kubeapi)
    with api.faults.active(api.faults.fail(503, resource="topologies")):
        reply = call(api.url, "GET", TOPOS)
        assert reply.code == 503 and reply.body["reason"] == "ServiceUnavailable"
        assert call(api.url, "GET", PODS).code == 200  # other resources still answer
    assert call(api.url, "GET", TOPOS).code == 200


def test_failing_the_requests_of_one_client(kubeapi: KubeApiServer) -> None:
    # One replica cut off from the API while the others go on (a partition), told apart by the
    # User-Agent header each client sends (RFC 9110, 10.1.5).
    api = with_topologies(kubeapi)
    with api.faults.active(api.faults.fail(503, user_agent="replica-a")):
        assert call(api.url, "GET", TOPOS, user_agent="replica-a").code == 503
        assert call(api.url, "GET", TOPOS, user_agent="replica-b").code == 200
        assert call(api.url, "GET", TOPOS).code == 200
    assert call(api.url, "GET", TOPOS, user_agent="replica-a").code == 200


def test_failing_the_next_n_requests(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    api.faults.fail(500, method="POST", times=2)
    assert [call(api.url, "POST", TOPOS, topology(f"r{i}")).code for i in range(3)] == [500, 500, 201]


def test_no_answer_until_the_fault_is_cleared(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    rule = api.faults.hang(resource="topologies")
    outcome: list[str] = []

    def held_request() -> None:
        try:
            outcome.append(str(call(api.url, "GET", TOPOS).code))
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    held = threading.Thread(target=held_request)
    held.start()
    assert api.faults.wait_for_held(1)
    assert call(api.url, "GET", PODS).code == 200  # the server still answers the rest
    api.faults.clear(rule)
    held.join(timeout=10)
    assert outcome == ["RemoteDisconnected"]  # dropped without an answer, as a dead server would
    assert call(api.url, "GET", TOPOS).code == 200


def test_slow_answers_outlast_a_short_client_timeout(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    with api.faults.active(api.faults.slow(5.0, resource="pods")):
        with pytest.raises((TimeoutError, socket.timeout)):
            call(api.url, "GET", PODS, timeout=0.2)
        assert call(api.url, "GET", TOPOS, timeout=0.2).code == 200


def test_conflict_storm_on_the_next_writes(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": the client's answer to 409 is to GET and retry.
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("r1"))
    api.faults.conflict_next_writes(3)
    patch = {"metadata": {"labels": {"x": "1"}}}
    codes = [
        call(api.url, "PATCH", f"{TOPOS}/r1", patch, "application/merge-patch+json").code for _ in range(4)
    ]
    assert codes == [409, 409, 409, 200]
    assert call(api.url, "GET", f"{TOPOS}/r1").code == 200  # reads are not affected


def test_dropping_open_watches(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    call(api.url, "POST", PODS, pod("p1"))
    with watching(api.url, f"{PODS}?watch=true") as events:
        assert next(events)["type"] == "ADDED"
        assert api.faults.open_watches == 1
        assert api.faults.drop_watches() == 1
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            next(events)  # cut mid-stream: no clean end of the chunked body
    assert api.faults.open_watches == 0


def test_watches_fail_while_lists_work(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    with api.faults.active(api.faults.fail(500, method="WATCH")):
        assert call(api.url, "GET", f"{TOPOS}?watch=true").code == 500
        assert call(api.url, "GET", TOPOS).code == 200
