"""Click commands for every mode. Commands are thin: parse, call one core function, print.

Modules: ``root`` (the ``kubedtn`` group; each mode registers there), ``daemon``
(``kubedtn daemon``), ``controller`` (``kubedtn controller``), ``lab`` (``kubedtn lab ...``),
``link`` (``kubedtn link set``), ``physical`` (``kubedtn physical add|del``), ``topo``
(``kubedtn topo validate|convert``), ``certs`` (``kubedtn certs ca|node``), ``status``
(``kubedtn status``: does the node daemon answer; the DaemonSet's readiness probe).
"""
