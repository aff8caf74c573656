"""The node daemon: gRPC ``Local``/``Remote`` services over the link manager, metrics, and the
node-local topology pod list.

Modules, one job each:

* ``config``   — settings from flags and environment (GRPC_PORT, HTTP_ADDR, HOST_IP, ...);
* ``plan``     — pure: a pod, its peers and this node → one decision per link;
* ``podstatus``— pure: the status a pod's Topology records (links, skipped, Ready);
* ``convert``  — protobuf messages ↔ model types;
* ``locks``    — per-link locks taken in sorted order;
* ``manager``  — the link manager: SetupPod(s)/DestroyPod(s)/AddLinks/... on store + dataplane;
* ``podlist``  — ``topology-pods.json`` for the CNI plugin, kept current by a store watch;
* ``remote``   — the client of a peer daemon's ``Remote.Update`` (cross-node links);
* ``server``   — thin gRPC servicers, error → status code mapping, the two listeners;
* ``metrics``  — Prometheus exposition on HTTP_ADDR;
* ``logs``     — key=value log lines with pod/namespace/link/action fields;
* ``run``      — the process: pidfile, reconcile, serve until SIGTERM/SIGINT.
"""
