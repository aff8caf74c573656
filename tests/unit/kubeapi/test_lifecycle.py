"""Starting and stopping the double: its kubeconfig, and nothing left running after it."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

import yaml

from tests.support.kubeapi.client import call, watching
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import PODS


def test_kubeconfig_points_at_the_server_without_credentials(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        config = yaml.safe_load(api.write_kubeconfig(tmp_path / "kubeconfig", namespace="lab").read_text())
        url = api.url
    assert config["current-context"] == "kubeapi"
    assert config["clusters"][0]["cluster"] == {"server": url}
    assert url.startswith("http://127.0.0.1:")
    assert config["users"][0]["user"] == {}
    assert config["contexts"][0]["context"]["namespace"] == "lab"


def test_stop_ends_watches_held_requests_and_idle_connections() -> None:
    before = set(threading.enumerate())
    api = KubeApiServer().start()
    outcome: list[str] = []

    def held_request() -> None:
        try:
            outcome.append(str(call(api.url, "GET", "/api/v1/nodes", timeout=10).code))
        except (http.client.HTTPException, ConnectionError) as e:
            outcome.append(type(e).__name__)

    try:
        idle = http.client.HTTPConnection("127.0.0.1", int(api.url.rsplit(":", 1)[1]), timeout=10)
        idle.request("GET", "/version")  # keep-alive: a server thread now waits for a next request
        assert idle.getresponse().read()
        api.faults.hang(resource="nodes")
        held = threading.Thread(target=held_request)
        held.start()
        assert api.faults.wait_for_held(1)
        with watching(api.url, f"{PODS}?watch=true") as events:
            assert api.faults.wait_for_watches(1)
            api.stop()  # returns once every handler thread has been joined
            assert list(events) == []  # the watch ended cleanly
        held.join(timeout=10)
        assert outcome == ["RemoteDisconnected"]  # the held request was never answered
        idle.close()
    finally:
        api.faults.stop()
    assert set(threading.enumerate()) <= before


def test_a_second_socket_serves_the_same_objects_and_faults_and_stops_with_the_server(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    with KubeApiServer() as api:
        other = api.listen_also("127.0.0.1")
        assert other != api.url
        config = yaml.safe_load(api.write_kubeconfig(tmp_path / "kubeconfig", url=other).read_text())
        assert config["clusters"][0]["cluster"] == {"server": other}
        assert call(other, "POST", PODS, {"metadata": {"name": "p"}}).code == 201
        assert [p["metadata"]["name"] for p in call(api.url, "GET", PODS).body["items"]] == ["p"]
        with api.faults.active(api.faults.fail(503, resource="pods")):
            assert call(other, "GET", PODS).code == 503
        assert ("POST", PODS) in api.requests and ("GET", PODS) in api.requests
        assert ("POST", PODS) in api.requests_not_from("someone else")
    assert set(threading.enumerate()) <= before
