"""CRUD semantics of the double, each test naming the API Conventions section it checks."""

from __future__ import annotations

from tests.support.kubeapi.client import call
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import PODS, TOPOS, pod, topology, with_topologies


def test_created_object_has_server_set_metadata(kubeapi: KubeApiServer) -> None:
    # "Metadata": uid, resourceVersion (a string), generation and an RFC 3339 creationTimestamp.
    api = with_topologies(kubeapi)
    first = call(api.url, "POST", TOPOS, topology("r1"))
    second = call(api.url, "POST", TOPOS, topology("r2"))
    assert first.code == second.code == 201
    meta1, meta2 = first.body["metadata"], second.body["metadata"]
    assert meta1["uid"] != meta2["uid"]
    assert meta1["namespace"] == "default" and meta1["generation"] == 1
    assert isinstance(meta1["resourceVersion"], str)
    # One counter across the server: the later write has the later version.
    assert int(meta2["resourceVersion"]) > int(meta1["resourceVersion"])
    assert meta1["creationTimestamp"].endswith("Z") and "T" in meta1["creationTimestamp"]


def test_stale_resource_version_on_put_is_a_409_conflict(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": a PUT whose resourceVersion does not match fails
    # with StatusConflict (409), so one of two read-modify-write cycles loses.
    api = with_topologies(kubeapi)
    stale = call(api.url, "POST", TOPOS, topology("r1")).body
    fresh = dict(stale, metadata=dict(stale["metadata"], labels={"by": "one"}))
    assert call(api.url, "PUT", f"{TOPOS}/r1", fresh).code == 200
    stale["metadata"]["labels"] = {"by": "two"}
    reply = call(api.url, "PUT", f"{TOPOS}/r1", stale)
    assert reply.code == 409
    assert reply.body["kind"] == "Status" and reply.body["reason"] == "Conflict"
    assert call(api.url, "GET", f"{TOPOS}/r1").body["metadata"]["labels"] == {"by": "one"}


def test_post_of_an_existing_name_is_409_already_exists(kubeapi: KubeApiServer) -> None:
    # "Idempotency": POST of an object with the name of an existing one answers 409.
    api = with_topologies(kubeapi)
    assert call(api.url, "POST", TOPOS, topology("r1")).code == 201
    reply = call(api.url, "POST", TOPOS, topology("r1", peer="r3"))
    assert reply.code == 409
    assert reply.body["reason"] == "AlreadyExists"
    assert reply.body["details"] == {"name": "r1", "kind": "topologies", "group": "kubedtn.io"}


def test_missing_object_is_a_404_status_naming_it(kubeapi: KubeApiServer) -> None:
    # "Response Status Kind": errors answer with kind Status, status Failure, reason, code, details.
    api = with_topologies(kubeapi)
    reply = call(api.url, "GET", f"{TOPOS}/nope")
    assert reply.code == 404
    assert reply.body["kind"] == "Status" and reply.body["status"] == "Failure"
    assert reply.body["reason"] == "NotFound" and reply.body["code"] == 404
    assert reply.body["details"]["name"] == "nope"
    assert '"nope" not found' in reply.body["message"]


def test_malformed_bodies_are_refused_with_the_field_named(kubeapi: KubeApiServer) -> None:
    # "HTTP Status codes": 422 for invalid data in a create; 400 for a request that makes no sense.
    api = with_topologies(kubeapi)
    reply = call(
        api.url, "POST", TOPOS, {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": "r1"}
    )
    assert reply.code == 422 and reply.body["reason"] == "Invalid"
    assert reply.body["details"]["causes"][0]["field"] == "metadata"
    reply = call(
        api.url, "POST", TOPOS, {"apiVersion": "kubedtn.io/v1", "kind": "Pod", "metadata": {"name": "x"}}
    )
    assert reply.code == 422 and reply.body["details"]["causes"][0]["field"] == "kind"
    assert call(api.url, "POST", TOPOS, b"{not json").code == 400


def test_status_is_written_only_through_the_status_subresource(kubeapi: KubeApiServer) -> None:
    # "Spec and Status": PUT and POST ignore status; the /status subresource changes only status.
    api = with_topologies(kubeapi)
    posted = topology("r1") | {"status": {"src_ip": "1.1.1.1"}}
    created = call(api.url, "POST", TOPOS, posted).body
    assert "status" not in created
    with_status = created | {"status": {"src_ip": "10.0.0.1"}}
    with_status["spec"] = {"links": []}  # ignored on /status
    reply = call(api.url, "PUT", f"{TOPOS}/r1/status", with_status)
    assert reply.code == 200
    assert reply.body["status"] == {"src_ip": "10.0.0.1"}
    assert reply.body["spec"] == created["spec"]
    # status is not a change of the desired state: generation stays.
    assert reply.body["metadata"]["generation"] == 1
    again = reply.body | {"status": {"src_ip": "9.9.9.9"}, "spec": {"links": []}}
    replaced = call(api.url, "PUT", f"{TOPOS}/r1", again).body
    assert replaced["status"] == {"src_ip": "10.0.0.1"}
    assert replaced["spec"] == {"links": []}
    assert replaced["metadata"]["generation"] == 2


def test_merge_patch_and_json_patch(kubeapi: KubeApiServer) -> None:
    # "PATCH operations": application/merge-patch+json (RFC 7386), application/json-patch+json (RFC 6902).
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("r1", labels={"a": "1", "b": "2"}))
    merge = {"metadata": {"labels": {"a": None, "c": "3"}}}
    reply = call(api.url, "PATCH", f"{TOPOS}/r1", merge, "application/merge-patch+json")
    assert reply.code == 200 and reply.body["metadata"]["labels"] == {"b": "2", "c": "3"}
    ops = [
        {"op": "replace", "path": "/spec/links/0/peer_pod", "value": "r9"},
        {"op": "add", "path": "/metadata/labels/d", "value": "4"},
    ]
    reply = call(api.url, "PATCH", f"{TOPOS}/r1", ops, "application/json-patch+json")
    assert reply.body["spec"]["links"][0]["peer_pod"] == "r9"
    assert reply.body["metadata"]["labels"]["d"] == "4"
    assert reply.body["metadata"]["generation"] == 2
    bad = [{"op": "remove", "path": "/spec/nothing"}]
    assert call(api.url, "PATCH", f"{TOPOS}/r1", bad, "application/json-patch+json").code == 422


def test_a_patch_carrying_a_stale_resource_version_conflicts(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": resourceVersion is a precondition wherever it is sent.
    api = with_topologies(kubeapi)
    old = call(api.url, "POST", TOPOS, topology("r1")).body["metadata"]["resourceVersion"]
    call(
        api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"labels": {"x": "1"}}}, "application/merge-patch+json"
    )
    stale = {"metadata": {"resourceVersion": old, "labels": {"x": "2"}}}
    assert call(api.url, "PATCH", f"{TOPOS}/r1", stale, "application/merge-patch+json").code == 409


def test_strategic_merge_patch_is_refused_for_custom_resources_only(kubeapi: KubeApiServer) -> None:
    # "PATCH operations": strategic merge patch is for built-in kinds (the real server answers 415 for
    # custom resources, which makes kubectl fall back to a merge patch).
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("r1"))
    smp = {"metadata": {"labels": {"x": "1"}}}
    reply = call(api.url, "PATCH", f"{TOPOS}/r1", smp, "application/strategic-merge-patch+json")
    assert reply.code == 415 and reply.body["reason"] == "UnsupportedMediaType"
    call(api.url, "POST", PODS, pod("p1"))
    reply = call(
        api.url, "PATCH", f"{PODS}/p1", smp | {"$patch": "merge"}, "application/strategic-merge-patch+json"
    )
    assert reply.code == 200 and reply.body["metadata"]["labels"] == {"x": "1"}


def test_delete_waits_for_finalizers(kubeapi: KubeApiServer) -> None:
    # "Metadata": with a finalizer set, deletion sets deletionTimestamp and is postponed at least
    # until the finalizer is removed.
    api = with_topologies(kubeapi)
    call(
        api.url,
        "POST",
        TOPOS,
        topology("r1") | {"metadata": {"name": "r1", "finalizers": ["kubedtn.io/links"]}},
    )
    reply = call(api.url, "DELETE", f"{TOPOS}/r1")
    assert reply.code == 200 and reply.body["metadata"]["deletionTimestamp"]
    held = call(api.url, "GET", f"{TOPOS}/r1")
    assert held.code == 200 and held.body["metadata"]["finalizers"] == ["kubedtn.io/links"]
    done = {"metadata": {"finalizers": None}}
    assert call(api.url, "PATCH", f"{TOPOS}/r1", done, "application/merge-patch+json").code == 200
    assert call(api.url, "GET", f"{TOPOS}/r1").code == 404


def test_successful_delete_answers_a_success_status(kubeapi: KubeApiServer) -> None:
    # "Response Status Kind": a Status is returned when a DELETE succeeds.
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("r1"))
    reply = call(api.url, "DELETE", f"{TOPOS}/r1")
    assert reply.code == 200 and reply.body["kind"] == "Status" and reply.body["status"] == "Success"
    assert call(api.url, "GET", f"{TOPOS}/r1").code == 404
    assert call(api.url, "DELETE", f"{TOPOS}/r1").code == 404


def test_objects_need_an_existing_namespace(kubeapi: KubeApiServer) -> None:
    # "Metadata": namespace is what objects are subdivided into; creating in a missing one is 404.
    api = with_topologies(kubeapi)
    reply = call(api.url, "POST", "/apis/kubedtn.io/v1/namespaces/lab/topologies", topology("r1"))
    assert reply.code == 404 and reply.body["details"] == {"name": "lab", "kind": "namespaces"}
    assert call(api.url, "POST", "/api/v1/namespaces", {"metadata": {"name": "lab"}}).code == 201
    assert call(api.url, "POST", "/apis/kubedtn.io/v1/namespaces/lab/topologies", topology("r1")).code == 201
    everywhere = call(api.url, "GET", "/apis/kubedtn.io/v1/topologies").body
    assert [o["metadata"]["namespace"] for o in everywhere["items"]] == ["lab"]


def test_nodes_leases_and_events(kubeapi: KubeApiServer) -> None:
    # "Types (Kinds)": cluster-scoped Nodes, namespaced Leases (coordination.k8s.io) and Events.
    api = kubeapi
    assert call(api.url, "POST", "/api/v1/nodes", {"metadata": {"name": "n1"}}).code == 201
    assert call(api.url, "GET", "/api/v1/nodes/n1").body["metadata"].get("namespace") is None
    lease = {"metadata": {"name": "kubedtn"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    held = call(api.url, "POST", leases, lease).body
    taken = held | {"spec": {"holderIdentity": "b", "leaseDurationSeconds": 15}}
    assert call(api.url, "PUT", f"{leases}/kubedtn", taken).code == 200
    assert call(api.url, "PUT", f"{leases}/kubedtn", held).code == 409  # the loser of an election
    event = {
        "metadata": {"name": "r1.1"},
        "involvedObject": {"kind": "Topology", "name": "r1"},
        "reason": "LinkUp",
        "type": "Normal",
        "message": "eth1 up",
    }
    assert call(api.url, "POST", "/api/v1/namespaces/default/events", event).code == 201
    found = call(api.url, "GET", "/api/v1/events?fieldSelector=involvedObject.name%3Dr1,reason%3DLinkUp").body
    assert [e["metadata"]["name"] for e in found["items"]] == ["r1.1"]


def test_delete_and_put_preconditions(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": resourceVersion (and uid) as a precondition of DELETE;
    # "Metadata": uid distinguishes an object from a deleted and recreated one of the same name.
    api = with_topologies(kubeapi)
    old = call(api.url, "POST", TOPOS, topology("r1")).body
    call(api.url, "DELETE", f"{TOPOS}/r1")
    new = call(api.url, "POST", TOPOS, topology("r1")).body
    stale_uid = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"uid": old["metadata"]["uid"]},
    }
    reply = call(api.url, "DELETE", f"{TOPOS}/r1", stale_uid)
    assert reply.code == 409 and "Precondition failed: UID" in reply.body["message"]
    assert (
        call(
            api.url, "PUT", f"{TOPOS}/r1", old | {"metadata": old["metadata"] | {"resourceVersion": ""}}
        ).code
        == 409
    )
    current = {
        "preconditions": {
            "uid": new["metadata"]["uid"],
            "resourceVersion": new["metadata"]["resourceVersion"],
        }
    }
    assert call(api.url, "DELETE", f"{TOPOS}/r1", current).code == 200


def test_delete_collection_with_a_selector(kubeapi: KubeApiServer) -> None:
    # "Verbs on Resources": DELETE on the collection deletes a list of objects.
    api = with_topologies(kubeapi)
    for name, lab in (("r1", "a"), ("r2", "a"), ("r3", "b")):
        call(api.url, "POST", TOPOS, topology(name, labels={"lab": lab}))
    assert call(api.url, "DELETE", f"{TOPOS}?labelSelector=lab%3Da").code == 200
    assert [o["metadata"]["name"] for o in call(api.url, "GET", TOPOS).body["items"]] == ["r3"]


def test_dry_run_is_refused_rather_than_written(kubeapi: KubeApiServer) -> None:
    api = with_topologies(kubeapi)
    reply = call(api.url, "POST", f"{TOPOS}?dryRun=All", topology("r1"))
    assert reply.code == 400 and "dryRun" in reply.body["message"]
    assert call(api.url, "GET", f"{TOPOS}/r1").code == 404
