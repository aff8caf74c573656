# The __main__.py of dist/kubedtn (hack/zipapp/shiv_build.py puts it in place of shiv's).
#
# shiv's own __main__ runs its bootstrap on every start: it opens the archive with
# zipfile and imports pathlib, compileall, hashlib, subprocess and more, ~100 ms on
# this hardware, even when the site-packages are already extracted. The CNI plugin
# is exec'd for every pod, so this launcher finds the extracted site-packages the way
# shiv does (ROOT/<name>_<build id>/site-packages, ROOT from SHIV_ROOT or the build's
# --root) with os.path only and, when it exists, runs the entry point straight away.
# Everything else (first run: extract and compile; SHIV_* overrides) goes to shiv's
# bootstrap unchanged, so the archive stays a regular shiv zipapp.
#
# Two more jobs:
# - On a Python other than the one it was built for, the cp3XY wheels inside cannot load:
#   run kubedtn.main straight from the archive (stdlib only), which says so, as CNI JSON
#   when a runtime called.
# - When the build's root (/var/lib/kubedtn/zipapp) lacks this build and this user cannot
#   create it (the CLI run by a non-root user), extract under ~/.cache/kubedtn/zipapp.
#
# Kept to syntax old Pythons can parse, so the wrong-Python message can be shown.
import json
import os
import sys

BUILT_FOR = (0, 0)  # replaced at build time by the (major, minor) of the build's Python

# Variables that change what shiv's bootstrap does: leave those runs to it.
_SHIV_OVERRIDES = (
    "SHIV_ENTRY_POINT",
    "SHIV_MODULE",
    "SHIV_CONSOLE_SCRIPT",
    "SHIV_INTERPRETER",
    "SHIV_FORCE_EXTRACT",
    "SHIV_PREPEND_PYTHONPATH",
    "SHIV_EXTEND_PYTHONPATH",
)


def _archive():
    return sys.modules["__main__"].__loader__.archive


def _configured_root(env):
    root = os.environ.get("SHIV_ROOT", env.get("root"))
    if not root:
        return os.path.expanduser("~/.shiv")
    if root.startswith("$"):
        root = os.environ.get(root[1:], root[1:])
    return os.path.expanduser(root)


def _can_create(path):
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK)


def _user_root():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "kubedtn", "zipapp")


def _site_packages(root, env):
    name = os.path.basename(os.path.realpath(sys.argv[0]))
    return os.path.join(root, name + "_" + env["build_id"], "site-packages")


def _add_site_dir(site_packages):
    # Where shiv's bootstrap puts it: before the interpreter's own site-packages.
    for index, entry in enumerate(sys.path):
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            sys.path.insert(index, site_packages)
            return
    sys.path.append(site_packages)


def _call(entry_point):
    module, _, attr = entry_point.partition(":")
    function = __import__(module, fromlist=[attr])
    for part in attr.split("."):
        function = getattr(function, part)
    return function()


def main():
    if sys.version_info[:2] != BUILT_FOR:
        sys.path.insert(0, os.path.join(_archive(), "site-packages"))
        from kubedtn.main import main as kubedtn_main

        kubedtn_main()  # reports the mismatch and exits
        return
    env = json.loads(sys.modules["__main__"].__loader__.get_data("environment.json"))
    root = _configured_root(env)
    site_packages = _site_packages(root, env)
    if not os.path.isdir(site_packages) and "SHIV_ROOT" not in os.environ and not _can_create(root):
        os.environ["SHIV_ROOT"] = _user_root()
        site_packages = _site_packages(os.environ["SHIV_ROOT"], env)
    fast = (
        os.path.isdir(site_packages)
        and env.get("entry_point")
        and not any(name in os.environ for name in _SHIV_OVERRIDES)
        and not (env.get("no_modify") or env.get("preamble") or env.get("extend_pythonpath"))
    )
    if fast:
        _add_site_dir(site_packages)
        sys.exit(_call(env["entry_point"]))
    import _bootstrap

    _bootstrap.bootstrap()


main()
