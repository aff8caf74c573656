"""The CNI plugin (exec'd by the container runtime, once per pod and command).

Modules, lightest first (the VERSION path imports only ``errors``, ``jsonio``,
``versions`` and ``plugin``):

- ``errors``   CNI error codes, the error object printed, the mapping from kubedtn's errors
- ``jsonio``   JSON in (stdin documents) and out (one result object)
- ``fastjson`` json through CPython's ``_json`` accelerator alone (import time)
- ``versions`` CNI spec versions spoken, the VERSION answer
- ``plugin``   dispatch on CNI_COMMAND
- ``rules``    the checks of an invocation as plain functions on plain values
- ``fastpath`` ADD/DEL/CHECK of a pod in no topology, with json and os only; a topology
  pod's ADD checked and handed on
- ``nowheels`` the plugin on a Python the executable's wheels are not for
- ``podlist``  the node's topology pod list, as the daemon writes it
- ``pods``     which pod a call is for, and whether it is a topology pod
- ``options``  kubedtn's own keys in its network configuration entry
- ``spec``     the parsed invocation: command, CNI_* environment, CNI_ARGS, config, prevResult
- ``logs``     the log file (never stdout)
- ``add``, ``delete``, ``check``, ``status``, ``gc`` the commands
- ``client``   the daemon's Local service over its unix socket
- ``plainrpc`` the Local service's calls over the daemon's plain socket, without grpc
- ``wire``     the few protobuf messages the plugin exchanges, encoded by hand
- ``install``  installing the plugin chained after a node's network, and removing it
- ``pyruntime`` the portable Python runtime the installed plugin runs on, copied to the node
- ``elfinterp`` an executable's PT_INTERP, rewritten in place (for that copy)

Never imports kubernetes, pyroute2, the daemon or the dataplane (import-linter checks it);
grpc only to ask a daemon that has no plain socket. This package __init__ stays empty of
imports so that importing ``kubedtn.cni.plugin`` costs only what the plugin needs.
"""
