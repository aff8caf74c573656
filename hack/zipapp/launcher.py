# The __main__.py of dist/kubedtn (hack/zipapp/shiv_build.py puts it in place of shiv's).
#
# shiv's own __main__ runs its bootstrap on every start: it opens the archive with
# zipfile and imports pathlib, compileall, hashlib, subprocess and more, ~100 ms on
# this hardware, even when the site-packages are already extracted. The CNI plugin
# is exec'd for every pod, so this launcher finds the unpacked site-packages where shiv
# puts them (ROOT/<name>_<build id>/site-packages, ROOT from SHIV_ROOT or the build's
# --root) with os.path only and, when that copy is complete, runs the entry point straight
# away. It unpacks a missing or incomplete copy itself (below); runs with SHIV_* overrides
# go to shiv's bootstrap unchanged, so the archive stays a regular shiv zipapp.
#
# More jobs:
# - The unpacked copy is complete or not used: ROOT/<name>_<build id>/complete (MARKER) is
#   written last, after every file is on disk (os.sync), and the fast path runs only a copy
#   that has it. A copy without it (a node that lost power mid-unpack, a disk that filled)
#   is unpacked again (_unpack): into <dir>.partial, then renamed into place, under an
#   exclusive flock on shiv's lock file, so two first runs at once (two pods' CNI ADDs)
#   unpack once and the second one waits, then runs the first one's copy.
# - On a Python other than the one it was built for, the cp3XY wheels inside cannot load:
#   run kubedtn.main straight from the archive (its pure-Python sources, stdlib only). As a
#   CNI plugin it still passes pods in no topology through (kubedtn.cni.plugin, without
#   wheels); otherwise it says which Python it needs, as CNI JSON when a runtime called.
# - When the build's root (/var/lib/kubedtn/zipapp) lacks this build and this user cannot
#   create it (the CLI run by a non-root user), extract under ~/.cache/kubedtn/zipapp.
#
# Kept to syntax old Pythons can parse (no f-strings), so the wrong-Python message can be shown.
import os
import sys

BUILT_FOR = (0, 0)  # replaced at build time by the (major, minor) of the build's Python
MARKER = "complete"  # in ROOT/<name>_<build id>/, written last (kubedtn.cni.install reads it too)

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


def _build_dir(root, env):
    name = os.path.basename(os.path.realpath(sys.argv[0]))
    return os.path.join(root, name + "_" + env["build_id"])


def _complete(build_dir):
    return os.path.exists(os.path.join(build_dir, MARKER))


def _unpack(build_dir, env):
    """Unpack site-packages into build_dir, which has no marker: see the header."""
    import fcntl

    root, name = os.path.split(build_dir)
    os.makedirs(root, exist_ok=True)
    # shiv's bootstrap (SHIV_* runs) locks the same file, with flock too.
    lock = os.open(os.path.join(root, "." + name + "_lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process unpacking: wait for its copy
        if _complete(build_dir):
            return
        partial, stale = build_dir + ".partial", build_dir + ".stale"
        _remove(partial)  # a dead process's (it held this lock)
        try:
            _extract(os.path.join(partial, "site-packages"), env)
            os.sync()  # every file and directory on disk before the marker can be
            if os.path.lexists(build_dir):  # an incomplete copy: out of the way first
                _remove(stale)
                os.rename(build_dir, stale)
            os.rename(partial, build_dir)
            _fsync_directory(root)
            _write_marker(build_dir)
        except BaseException:
            _remove(partial)
            raise
        _remove(stale)
    finally:
        os.close(lock)


def _extract(site_packages, env):
    import compileall
    import zipfile

    prefix = "site-packages/"
    with zipfile.ZipFile(_archive()) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix):
                continue
            path = archive.extract(info, os.path.dirname(site_packages))
            mode = (info.external_attr >> 16) & 0o7777
            if mode:
                os.chmod(path, mode)
    if env.get("compile_pyc"):
        # Its result is not checked: a .pyc is a cache (Python compiles a source it lacks).
        compileall.compile_dir(site_packages, quiet=2, workers=env.get("compile_workers") or 0)


def _write_marker(build_dir):
    fd = os.open(os.path.join(build_dir, MARKER), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"unpacked completely; without this file the launcher unpacks again\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_directory(build_dir)


def _fsync_directory(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path):
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _fail(message):
    """Exit with `message`: as CNI JSON on stdout when a runtime called, else on stderr."""
    if os.environ.get("CNI_COMMAND") and len(sys.argv) <= 1:
        import json

        print(json.dumps({"cniVersion": "1.0.0", "code": 999, "msg": message}))
    else:
        sys.stderr.write("error: " + message + "\n")
    sys.exit(1)


def _add_site_dir(site_packages):
    # Where shiv's bootstrap puts it: before the interpreter's own site-packages.
    for index, entry in enumerate(sys.path):
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            sys.path.insert(index, site_packages)
            return
    sys.path.append(site_packages)


class _JsonContext:
    """What _json.make_scanner reads (json.JSONDecoder's defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity
    memo = {}  # noqa: RUF012 -- the C scanner's cache


def _environment(data):
    """environment.json (shiv's, all plain JSON) through the json package's C scanner
    alone: `import json` pulls in re and enum, which would cost every exec more than the
    rest of this file (kubedtn.cni.fastjson explains). Anything unusual goes to json."""
    try:
        import _json

        text = data.decode("utf-8")
        value, end = _json.make_scanner(_JsonContext())(text, 0)
        if isinstance(value, dict) and not text[end:].strip():
            return value
    except (ImportError, StopIteration, ValueError, SystemError):  # SystemError: see fastjson
        pass
    import json

    return json.loads(data)


def _call(entry_point):
    module, _, attr = entry_point.partition(":")
    function = __import__(module, fromlist=[attr])
    for part in attr.split("."):
        function = getattr(function, part)
    return function()


def _foreign_python():
    sys.path.insert(0, os.path.join(_archive(), "site-packages"))
    try:
        from kubedtn.main import main as kubedtn_main
    except SyntaxError:  # a Python older than kubedtn.main's syntax (3.6)
        found = ".".join(map(str, sys.version_info[:3]))
        _fail("kubedtn needs Python {}.{}; this is Python {} at {}".format(*BUILT_FOR, found, sys.executable))
    kubedtn_main()  # the CNI pass-through, or a message saying which Python it needs


def main():
    if sys.version_info[:2] != BUILT_FOR:
        _foreign_python()
        return
    env = _environment(sys.modules["__main__"].__loader__.get_data("environment.json"))
    root = _configured_root(env)
    build_dir = _build_dir(root, env)
    if not _complete(build_dir) and "SHIV_ROOT" not in os.environ and not _can_create(root):
        os.environ["SHIV_ROOT"] = _user_root()
        build_dir = _build_dir(os.environ["SHIV_ROOT"], env)
    ours = (
        env.get("entry_point")
        and not any(name in os.environ for name in _SHIV_OVERRIDES)
        and not (env.get("no_modify") or env.get("preamble") or env.get("extend_pythonpath"))
    )
    if not ours:
        import _bootstrap

        _bootstrap.bootstrap()
        return
    if not _complete(build_dir):
        try:
            _unpack(build_dir, env)
        except OSError as e:
            _fail("cannot unpack {} into {}: {}".format(_archive(), build_dir, e))  # noqa: UP032 (old Pythons)
    _add_site_dir(os.path.join(build_dir, "site-packages"))
    sys.exit(_call(env["entry_point"]))


main()
