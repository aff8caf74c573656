"""Lab mode: a whole topology on one Linux host, pods replaced by network namespaces.

``kubedtn lab up FILE`` checks the files, makes a namespace per pod, writes the
Topology objects into the lab's store, starts the lab's daemon and brings every pod up
through it (``SetupPods``) — or, with ``--via-cni``, by exec'ing the kubedtn executable
as a CNI plugin chained after Debian's bridge plugin, exactly as a container runtime
would. ``lab status``, ``lab exec``, ``link set`` and ``lab down`` work on what ``up``
recorded in the lab's state file (see ``kubedtn.lab.state``).

Modules: ``names`` (lab, namespace and bridge names; paths — pure), ``state`` (the
lab's record on disk), ``plan`` (what ``up`` will create, checked before anything is),
``topostore`` (the lab's Topology objects in the store), ``daemonproc`` (the lab's
daemon process), ``client`` (gRPC to the daemon), ``up``/``down``/``status``/``linkset``
(the commands' core), ``enter`` (``lab exec``), ``report`` (tables), ``progress``.
"""
