"""The kubedtn controller (``kubedtn controller``, a Deployment in ``kubedtn-system``): the
cluster-wide reconciler of Topologies and Nodes, and the generic machinery it runs on.

What it does (the daemons make the links; see ARCHITECTURE.md for why):

* ``topologies`` — pure: the verdict on one Topology (finalizer, pods of lost nodes,
  PeersAgree and Degraded conditions, Events);
* ``nodes``      — pure: which node addresses are lost (not Ready past the grace, deleted);
* ``reconciler`` — one Topology reconciled from the caches: judged, written, Events recorded;
* ``run``        — the process: informers, leader election, workers, probes, metrics.

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
