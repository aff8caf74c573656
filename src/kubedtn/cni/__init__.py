"""The CNI plugin (exec'd by the container runtime, once per pod and command).

Modules, lightest first (the VERSION path imports only the first four):

- ``errors``   Code (CNI error codes), CniError(code, msg, details=), from_exception()
- ``jsonio``   decode_object(bytes, what=) -> dict, encode(result) -> str
- ``versions`` SUPPORTED_VERSIONS, LATEST_VERSION, check_version(), version_for_request(),
               version_info(), is_at_least()
- ``plugin``   run() -> exit code: dispatch on CNI_COMMAND
- ``spec``     Command, CniArgs / parse_cni_args(), CniEnv / parse_environment(),
               NetConf / parse_network_config(), check_prev_result(), Request
- ``logs``     the log file (never stdout)

Never imports kubernetes, pyroute2, the daemon or the dataplane (import-linter checks it);
grpc only in the handlers that call the daemon. This package __init__ stays empty of
imports so that importing ``kubedtn.cni.plugin`` costs only what the plugin needs.
"""
