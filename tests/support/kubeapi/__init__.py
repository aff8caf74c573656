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
"""

from tests.support.kubeapi.server import KubeApiServer

__all__ = ["KubeApiServer"]
