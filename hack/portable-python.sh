#!/bin/bash
# Build a Python runtime that runs on a node with no Python and any libc, or none:
# what the CNI plugin runs on when `kubedtn daemon --install-cni` installs it on the host.
#
#   hack/portable-python.sh DEST [PYTHON]     (PYTHON: default /usr/bin/python3.11)
#
# The node image runs `hack/portable-python.sh /usr/lib/kubedtn/python`; install_cni copies
# DEST to the node (STATE_DIR/python/<id>/) and points the plugin's launcher at it
# (kubedtn.cni.pyruntime). DEST holds:
#   bin/python3.11            PYTHON's binary, patched (below)
#   lib/python3.11/           the standard library minus tests, GUI, ensurepip and the static
#                             libpython (config-*): what a zipapp of kubedtn may import
#   lib/python3.11/lib-dynload/   its extension modules (minus test, terminal and NIS ones)
#   lib/*.so*                 every shared library those need (the ldd closure), glibc's
#                             dynamic loader itself, and the ones manylinux wheels may link
#                             (libstdc++, libgcc_s, ...: the zipapp's cp311 wheels need them)
#   runtime.json              what kubedtn.cni.pyruntime reads: paths, version, id
#
# Why patch the binary rather than run it through `ld.so --library-path`: the kernel then
# execs the runtime straight from the launcher's `#!` line (one exec, no wrapper; a host
# may have no shell), and the runtime never loads a library of the host:
# - PT_INTERP names DEST/lib/ld-linux-x86-64.so.2 (our loader, matching our libc). Its slot
#   is made 1024 bytes long (the path padded with '/'), so install_cni can write the path
#   of the copy on the node into it without patchelf (kubedtn.cni.elfinterp);
# - DT_RPATH (not RUNPATH: RPATH also applies to the libraries' own dependencies and to
#   dlopen) is $ORIGIN/../lib, searched before the host's cache and default directories.
# The build checks itself: the runtime imports every extension module it carries and
# fails if any library was mapped from outside DEST.
# Needs patchelf (Debian: patchelf); the result depends on nothing of the build machine.
set -euo pipefail

usage='usage: hack/portable-python.sh DEST [PYTHON]'
dest=${1:?$usage}
python=${2:-/usr/bin/python3.11}
slot=1024 # bytes of PT_INTERP, with its NUL; the kernel takes at most PATH_MAX (4096)

fail() {
  echo "portable-python: $*" >&2
  exit 1
}
command -v patchelf >/dev/null || fail "needs patchelf (apt-get install patchelf)"
[ -x "$python" ] || fail "PYTHON $python: not an executable (the Python to copy, e.g. /usr/bin/python3.11)"
dest=$(realpath -m "$dest")
[ "${#dest}" -lt $((slot - 64)) ] || fail "DEST $dest: longer than $((slot - 64)) characters"

# This environment sets PYTHONDONTWRITEBYTECODE=1 and maybe PYTHONPATH: not for these runs.
read -r version stdlib dynload multiarch < <(
  env -i "$python" -S -E -c 'import sys, sysconfig as s
print("%d.%d.%d" % sys.version_info[:3], s.get_path("stdlib"), s.get_config_var("DESTSHARED"),
      s.get_config_var("MULTIARCH"))'
)
minor=${version%.*}
[ "$dynload" = "$stdlib/lib-dynload" ] ||
  fail "$python keeps its extension modules in $dynload, not under $stdlib: not a layout this script knows"
loader=$(patchelf --print-interpreter "$python")

mkdir -p "$(dirname "$dest")"
work=$(mktemp -d "$(dirname "$dest")/.portable-python.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/lib"
binary=$work/bin/python$minor
cp -L "$python" "$binary"

# The standard library, symlinks resolved (Debian links _sysconfigdata; its
# sitecustomize.py points into /etc). Bytecode is compiled below, valid wherever copied.
excluded=(__pycache__ test tests idlelib tkinter turtledemo ensurepip 'config-*' site-packages
  dist-packages sitecustomize.py
  # extension modules: tests, and those that need terminal, NIS or Berkeley DB libraries
  '_test*.so' '_ctypes_test*.so' '_xxtestfuzz*.so' 'xxlimited*.so'
  'readline*.so' '_curses*.so' '_dbm*.so' 'nis*.so' '_crypt*.so' 'ossaudiodev*.so')
tar -C "$(dirname "$stdlib")" -ch "${excluded[@]/#/--exclude=}" "$(basename "$stdlib")" |
  tar -C "$work/lib" -x

# Shared libraries: the closure (ldd) of the binary, its extension modules and what
# manylinux wheels may link besides libc, found where the build machine keeps them.
wheel_libs=(libstdc++.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 libresolv.so.2 libm.so.6)
objects=("$binary" "$work/lib/python$minor/lib-dynload/"*.so)
for name in "${wheel_libs[@]}"; do
  found=
  for dir in "/lib/$multiarch" "/usr/lib/$multiarch" /lib64 /usr/lib64 /lib /usr/lib; do
    if [ -e "$dir/$name" ]; then
      found=$dir/$name
      break
    fi
  done
  [ -n "$found" ] || fail "$name: not found on this machine (manylinux wheels link it)"
  objects+=("$found")
  echo "$name $found" >>"$work/libs"
done
ldd "${objects[@]}" | awk '
  / not found/ { print "MISSING " $1; next }
  $2 == "=>" && $3 ~ /^\// { print $1, $3 }
  ' >>"$work/libs"
sort -u -o "$work/libs" "$work/libs"
if grep -q '^MISSING' "$work/libs"; then
  fail "libraries not found: $(grep '^MISSING' "$work/libs" | cut -d' ' -f2 | tr '\n' ' ')"
fi
while read -r soname path; do
  cp -L "$path" "$work/lib/$soname"
done <"$work/libs"
rm "$work/libs"
cp -L "$loader" "$work/lib/$(basename "$loader")"
chmod 0755 "$work/lib/"*.so*

# PT_INTERP: DEST's loader, padded with '/' to the slot's length; RPATH: our libraries.
suffix=lib/$(basename "$loader")
padding=$((slot - 1 - ${#dest} - ${#suffix}))
interpreter="$dest$(printf "%${padding}s" '' | tr ' ' /)$suffix"
patchelf --set-interpreter "$interpreter" --force-rpath --set-rpath "\$ORIGIN/../lib" "$binary"

# Run through our loader explicitly (PT_INTERP names DEST, which is not there yet).
run_runtime() {
  env -i "$work/lib/$(basename "$loader")" "$binary" -S -E "$@"
}
# Bytecode that is valid whatever the files' times after copying (install_cni copies).
# One process: workers need multiprocessing's semaphores (/dev/shm), which a builder may lack.
run_runtime -m compileall -q -j1 --invalidation-mode unchecked-hash "$work/lib/python$minor" >/dev/null
# Every extension module imports, and no library is mapped from outside the runtime.
run_runtime - "$work" <<'EOF'
import importlib, os, sys
root = os.path.realpath(sys.argv[1])
dynload = os.path.join(root, "lib", "python%d.%d" % sys.version_info[:2], "lib-dynload")
for name in sorted(os.listdir(dynload)):
    importlib.import_module(name.partition(".")[0])
outside = set()
with open("/proc/self/maps") as maps:
    for line in maps:
        path = line.split()[5] if len(line.split()) > 5 else ""
        if path.startswith("/") and ".so" in path and not os.path.realpath(path).startswith(root + "/"):
            outside.add(path)
if outside:
    sys.exit("portable-python: loaded from outside the runtime: " + " ".join(sorted(outside)))
EOF

id=$(cd "$work" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
cat >"$work/runtime.json" <<EOF
{
  "format": 1,
  "id": "$id",
  "version": "$version",
  "python": "bin/python$minor",
  "loader": "lib/$(basename "$loader")",
  "built_from": "$python"
}
EOF

rm -rf "$dest"
mv "$work" "$dest"
chmod 0755 "$dest"
trap - EXIT
"$dest/bin/python$minor" -S -E -c 'import sys' || fail "$dest/bin/python$minor does not run in place"
echo "portable-python: $dest ($(du -sh "$dest" | cut -f1), Python $version, id $id)"
