"""Install kubedtn as a chained CNI plugin on a node, and remove exactly that again.

    install_cni(*, executable=None, bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d",
                conflist_name="00-kubedtn.conflist", state_dir="/var/lib/kubedtn",
                plugin_options=None, warm=True) -> InstallReport
    uninstall_cni(*, state_dir="/var/lib/kubedtn") -> UninstallReport

``kubedtn daemon --install-cni`` / ``--uninstall-cni`` call these (every directory a flag).

install_cni:
- copies the running executable (the zipapp; ``executable`` overrides, and is required when
  kubedtn does not run from a zipapp, e.g. a dev venv) to ``bin_dir/kubedtn``
  atomically (temp file + rename), then runs ``bin_dir/kubedtn version`` once with a
  clean environment so the archive is extracted before the first pod's ADD;
- writes ``conf_dir/conflist_name``: the node's primary network (the first config in
  ``conf_dir`` by file name that is not ours: ``.conf``/``.json`` single plugin or
  ``.conflist``) with kubedtn's entry ``{"type": "kubedtn", **plugin_options}`` appended.
  The name must sort before every other config (runtimes use the first file);
- records what it wrote in ``state_dir/cni-install.json`` (the manifest).
Idempotent; run again after the primary config changed, it regenerates the conflist.
Raises kubedtn.errors.ValidationError ("no primary CNI config in /etc/cni/net.d; install
the cluster network first", a config that cannot be chained, a name that does not sort
first, no zipapp to copy) before touching anything.

uninstall_cni: removes what the manifest lists — our conflist, and our binary if it is
unchanged — then the manifest; nothing else. Idempotent (no manifest: nothing to do).

Layout: pure planning (``plan_install``, ``plan_uninstall``: directory contents in, files
to write/remove out) and thin effects (reading the directories, atomic writes, the warm run).
"""
