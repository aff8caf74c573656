"""The kubedtn controller (``kubedtn controller``, a Deployment in ``kubedtn-system``): the
cluster-wide reconciler of Topologies, Pods and Nodes, and the generic machinery it runs on.

The machinery (each module's docstring has its contract):

* ``workqueue`` — keys to reconcile: de-duplicated, one worker per key at a time, retries
  with per-key exponential backoff, N worker threads (client-go's workqueue);
* ``leader``    — leader election on a ``coordination.k8s.io/v1`` Lease, so that of two
  replicas only one acts (client-go's leaderelection);
* ``events``    — Kubernetes Events about objects, repeats aggregated into a count;
* ``probes``    — ``/healthz`` and ``/readyz`` (default ``:8081``), ``/metrics`` (``:8080``).

Its informers are ``kubedtn.store.kubecache.CachedKubeStore`` over any resource (Pods,
Nodes, Topologies), whose handlers enqueue keys. The controller imports the store and the
model only.
"""
