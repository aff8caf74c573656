"""Lists: their resourceVersion, label selectors and field selectors."""

from __future__ import annotations

from urllib.parse import quote

from tests.support.kubeapi.client import call
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import PODS, pod


def _names(api: KubeApiServer, path: str, **selectors: str) -> list[str]:
    query = "&".join(f"{k}={quote(v)}" for k, v in selectors.items())
    reply = call(api.url, "GET", f"{path}?{query}")
    assert reply.code == 200, reply
    return [o["metadata"]["name"] for o in reply.body["items"]]


def test_list_carries_the_resource_version_to_watch_from(kubeapi: KubeApiServer) -> None:
    # "Lists and Simple kinds": lists carry a resourceVersion in their metadata.
    last = call(kubeapi.url, "POST", PODS, pod("a")).body["metadata"]["resourceVersion"]
    listed = call(kubeapi.url, "GET", PODS).body
    assert listed["kind"] == "PodList" and listed["metadata"]["resourceVersion"] == last


def test_label_selectors(kubeapi: KubeApiServer) -> None:
    # "Label, selector, and annotation conventions" (and "Lists and Simple kinds": label filtering).
    for name, labels in (("a", {"app": "r", "tier": "1"}), ("b", {"app": "r"}), ("c", {"app": "s"})):
        call(kubeapi.url, "POST", PODS, pod(name, labels=labels))
    assert _names(kubeapi, PODS, labelSelector="app=r") == ["a", "b"]
    assert _names(kubeapi, PODS, labelSelector="app!=r") == ["c"]
    assert _names(kubeapi, PODS, labelSelector="app in (r,s),tier") == ["a"]
    assert _names(kubeapi, PODS, labelSelector="app notin (r),!tier") == ["c"]
    reply = call(kubeapi.url, "GET", f"{PODS}?labelSelector={quote('app in r')}")
    assert reply.code == 400 and "app in r" in reply.body["message"]


def test_field_selectors_for_pods(kubeapi: KubeApiServer) -> None:
    # "Lists and Simple kinds": most lists support filtering by fields; "Selecting Fields" gives the
    # notation (metadata.name, spec.nodeName).
    call(kubeapi.url, "POST", PODS, pod("a", node="n1"))
    call(kubeapi.url, "POST", PODS, pod("b", node="n2"))
    running = call(kubeapi.url, "GET", f"{PODS}/b").body | {"status": {"phase": "Running"}}
    assert call(kubeapi.url, "PUT", f"{PODS}/b/status", running).code == 200
    assert _names(kubeapi, PODS, fieldSelector="spec.nodeName=n1") == ["a"]
    assert _names(kubeapi, "/api/v1/pods", fieldSelector="status.phase=Running") == ["b"]
    assert _names(kubeapi, PODS, fieldSelector="metadata.name!=a,metadata.namespace=default") == ["b"]
    reply = call(kubeapi.url, "GET", f"{PODS}?fieldSelector=spec.hostname%3Dx")
    assert reply.code == 400 and "field label not supported: spec.hostname" in reply.body["message"]
