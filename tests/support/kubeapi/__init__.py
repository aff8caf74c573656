"""A Kubernetes API server double for tests, on the standard library's HTTP server.

It speaks the REST API kubedtn uses — discovery, CRUD with resourceVersions and a status
subresource, JSON merge/JSON patch, finalizers, label and field selectors, watches with 410 Gone
and bookmarks — on 127.0.0.1, with faults a test switches on (see `faults`). Real kubectl works
against it (tests/unit/kubeapi/test_kubectl.py). Usage::

    with KubeApiServer() as api:
        api.write_kubeconfig(tmp_path / "kubeconfig")
        api.register_crd(Path("manifests/crd/kubedtn.io_topologies.yaml"))
        with api.faults.active(api.faults.fail(503, resource="topologies")):
            ...

or the `kubeapi` pytest fixture from tests.support.kubeapi.fixture.

Modules: ``server`` (lifecycle, kubeconfig), ``handler`` (HTTP, routing to discovery or a verb),
``routes`` (URL paths), ``api`` (the verbs), ``storage`` (objects, resourceVersions, event log),
``watch`` (streams), ``selectors``, ``patches``, ``resources`` (types, built-in and CRD),
``crds``, ``discovery``, ``openapi`` (just what kubectl's validation reads), ``errors`` (Status),
``faults``, ``client`` (plain HTTP for the double's own tests), ``fixture`` (pytest fixtures).

Not there (a test needing one adds it): server-side apply's field ownership (an apply patch is a
merge patch here), strategic merge by list keys (lists are replaced), validation of objects
against their schema (fieldValidation is ignored), paging (limit/continue: one page), dryRun
(refused), cascading deletion (ownerReferences, namespaces), graceful deletion periods, Table,
protobuf or CBOR answers, authentication, events.k8s.io.
"""

from tests.support.kubeapi.server import KubeApiServer

__all__ = ["KubeApiServer"]
