"""The node daemon: gRPC ``Local`` (root-only unix sockets) and ``Remote`` (TCP, mutual TLS) services over
the link manager, metrics, and the node-local topology pod list.

Modules, one job each:

* ``manager``    — ``LinkManager``, the facade the servicers call; hands each job on to:
* ``setup``      — SetupPod(s), AddLinks: a batch's steps, in order;
* ``crossnode``  — the cross-node protocol (far ends asked of the peers' daemons);
* ``teardown``   — DestroyPod(s), DelLinks;
* ``properties`` — UpdateLinks;
* ``farends``    — the server side of Remote: the ends peers' daemons ask for;
* ``trust``      — how far a request is trusted: Remote as the store and the caller's
                   certificate back it, namespace paths;
* ``checks``     — CheckPod;
* ``records``    — reads of pods and writes of their status;
* ``applier``    — one dataplane apply per batch, with its second chances;
* ``jobs``       — one pod's part of a batch, and pure decisions about batches;
* ``types``      — the manager's request and answer types;
* ``context``    — what the jobs share on a node (records, locks, node, clock);
* ``plan``       — pure: a pod, its peers and this node → one decision per link;
* ``podstatus``  — pure: the status a pod's Topology records (links, skipped, Ready);
* ``vnis``       — pure: who holds a VNI on this node, and whether a holder is stale;
* ``locks``      — per-link locks taken in sorted order;
* ``parsecache`` — parsed Topologies by resourceVersion;
* ``convert``    — protobuf messages ↔ model types;
* ``podlist``    — ``topology-pods.json`` for the CNI plugin, kept current by a store watch;
* ``follow``     — on a cluster: live Topology edits, deletions and lost peers, from a store watch;
* ``livespec``   — pure: a live Topology's spec against its status and interfaces → the calls;
* ``resync``     — the periodic pass: missing links whose peers are up tried again;
* ``remote``     — the client of a peer daemon's ``Remote`` service;
* ``tls``        — mutual TLS credentials from the node's PEM files, checked at start;
* ``certs``      — the cluster CA and node certificates (``kubedtn certs``, the lab);
* ``server``     — thin gRPC servicers, error → status code mapping, the listeners;
* ``plainserver`` — the ``Local`` service on the plain socket, for the CNI plugin (no grpc);
* ``metrics``    — Prometheus exposition on HTTP_ADDR, the namespaces read at most every 5 s;
* ``limits``     — requests in flight, message and batch sizes, connections, peer channels;
* ``health``     — the state and last error of each background job, for Status;
* ``bypass``     — the eBPF TCP/IP bypass switched on or off at start (TCPIP_BYPASS), never fatal;
* ``logs``       — key=value log lines with pod/namespace/link/action fields;
* ``config``     — settings from flags and environment (GRPC_PORT, HTTP_ADDR, HOST_IP, ...);
* ``run``        — the process: pidfile, reconcile, serve until SIGTERM/SIGINT.
"""
