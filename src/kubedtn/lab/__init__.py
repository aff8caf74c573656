"""Lab mode: a whole topology on one Linux host, pods replaced by network namespaces.

``kubedtn lab up FILE`` checks the files, makes a namespace per pod, writes the
Topology objects into the lab's store, starts the lab's daemon and brings every pod up
through it (``SetupPods``) — or, with ``--via-cni``, by exec'ing the kubedtn executable
as a CNI plugin chained after Debian's bridge plugin, exactly as a container runtime
would. ``lab status``, ``lab exec``, ``link set`` and ``lab down`` work on what ``up``
recorded in the lab's state file (see ``kubedtn.lab.state``).

Modules:

* ``names``       — lab, namespace and bridge names; the lab's files (pure);
* ``state``       — the lab's record on disk (``lab.json``);
* ``plan``        — what ``up`` will create, checked before anything is (pure);
* ``topostore``   — the lab's Topology objects in the store;
* ``daemonproc``  — the lab's daemon process: running?, start detached, stop;
* ``selfexec``    — how to run this kubedtn again (as a daemon, as the CNI plugin);
* ``client``      — gRPC to the daemon's Local service;
* ``up``          — ``lab up``: files → namespaces, store objects, daemon, pods up;
* ``teardown``    — ``lab down``, and single pods out of a lab;
* ``status``      — ``lab status``; ``view`` — pods and links as the kernel has them;
* ``report``      — the tables ``up`` and ``status`` print (pure);
* ``enter``       — ``lab exec``; ``linkset`` — ``link set`` (properties, live);
* ``cnimode``     — ``up --via-cni``; ``cniruntime`` — a minimal CNI runtime for it;
* ``nodes``       — simulated nodes: which pod runs where (pure); ``fabric`` — their
  underlay; ``nodedaemons`` — one daemon per node; ``move`` — ``lab move``, ``lab node``;
* ``physical``    — ``physical add|del``: the host end of a link to a physical host;
* ``bypass``      — ``up --tcpip-bypass``: the TCP/IP bypass in a cgroup of the lab's own;
* ``generate``    — generated topologies for tests and benchmarks;
* ``progress``    — a progress bar on a terminal, plain lines otherwise.
"""
