"""``kubedtn topo apply|get|delete|diff``: Topology files against a cluster's API server.

The CLI parses options and prints; these modules do the work, over the store's Kubernetes
backend (``kubedtn.store.kube.KubeStore``):

* ``connect`` — the kubeconfig context, its namespace and server, the store to talk through;
* ``desired`` — the objects a set of files asks for, checked by the model first;
* ``apply``   — create or update each object (conflicts retried, status kept);
* ``diff``    — what applying would change, per Topology and per link uid (pure);
* ``table``   — ``get``'s table: the CRD's printer columns and their JSONPaths;
* ``delete``  — delete, and wait until finalizers let the objects go.
"""
