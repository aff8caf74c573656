#!/bin/bash
# Build the one executable: a shiv zipapp holding kubedtn and its runtime dependencies.
#
#   hack/build-zipapp.sh PYTHON OUTPUT        (make build: .venv/bin/python dist/kubedtn)
#
# - Dependencies: requirements.txt, with every transitive one pinned to the version in
#   PYTHON's environment (pip freeze as constraints), so the archive runs what the tests ran.
# - kubedtn: installed (not editable) from a copy of the source tree, including
#   src/kubedtn/_version.py (the Makefile writes it).
# - Shebang: `/usr/bin/python3 -S` when that is the Python the wheels are for (3.11 on
#   Debian 12), else `/usr/bin/env python3`. Naming the system Python skips wrappers found
#   first on PATH (pyenv's shim is a shell script, run on every exec), and -S skips
#   site.py (its .pth files, dist-packages): the launcher puts the archive's own
#   site-packages on sys.path, so nothing from the system's packages can shadow them.
# - Extraction: on its first run the archive unpacks its site-packages and compiles them
#   (--compile-pyc) into ROOT/kubedtn_<build id>/, ROOT being
#   $KUBEDTN_ZIPAPP_ROOT at build time, default /var/lib/kubedtn/zipapp (root-owned node
#   directory: kubelet execs the CNI plugin with a minimal environment, maybe no HOME).
#   `kubedtn daemon --install-cni` pre-extracts it so no pod waits for that; a first run
#   that must extract still works, and SHIV_ROOT at run time overrides ROOT. Users who
#   cannot write ROOT extract under ~/.cache/kubedtn/zipapp. The launcher unpacks itself
#   (not shiv's bootstrap) and marks a complete copy (hack/zipapp/launcher.py).
# - --reproducible: same inputs, byte-identical archive, same build id, so a rebuild
#   reuses the extracted directory.
set -euo pipefail

python=${1:?usage: hack/build-zipapp.sh PYTHON OUTPUT}
output=${2:?usage: hack/build-zipapp.sh PYTHON OUTPUT}
repo=$(cd "$(dirname "$0")/.." && pwd)
zipapp_root=${KUBEDTN_ZIPAPP_ROOT:-/var/lib/kubedtn/zipapp}

# This environment sets PYTHONDONTWRITEBYTECODE=1; nothing here may inherit it.
unset PYTHONDONTWRITEBYTECODE

if [ ! -f "$repo/src/kubedtn/_version.py" ]; then
  echo "build-zipapp: src/kubedtn/_version.py is missing (make writes it: use 'make build')" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
site=$work/site-packages

# A copy of the source tree, so the build leaves no build/ or *.egg-info behind in it.
mkdir -p "$work/src"
cp "$repo/setup.py" "$repo/setup.cfg" "$repo/pyproject.toml" "$work/src/"
if [ -f "$repo/README.md" ]; then cp "$repo/README.md" "$work/src/"; else touch "$work/src/README.md"; fi
tar -C "$repo" --exclude=__pycache__ --exclude='*.egg-info' --exclude='*.pyc' -cf - src | tar -C "$work/src" -xf -

"$python" -m pip freeze --exclude-editable >"$work/constraints.txt"
pip_install=("$python" -m pip install --quiet --disable-pip-version-check --no-compile --target "$site")
"${pip_install[@]}" -r "$repo/requirements.txt" -c "$work/constraints.txt"
rm -rf "$site/bin"  # console scripts (see below); also keeps pip from warning on the second install
"${pip_install[@]}" --no-deps --no-build-isolation "$work/src"

# Never imported by kubedtn (tests/unit/test_zipapp_contents.py checks it): the kubernetes
# client's asyncio variant, kubernetes/aio, and what only it needs, aiohttp and its
# dependencies. They are 81 MB of the 190 MB the archive unpacks to, on every node and in
# every image.
for unused in kubernetes/aio aiohttp aiohttp_retry aiohappyeyeballs aiosignal frozenlist multidict propcache yarl; do
  [ -e "$site/$unused" ] || continue
  rm -rf "${site:?}/$unused"
  case $unused in
    */*) ;;
    *) rm -rf "$site/$unused"-*.dist-info ;;
  esac
done
# The kubernetes distribution's RECORD still lists kubernetes/aio: drop those lines.
sed -i '/^kubernetes\/aio\//d' "$site"/kubernetes-*.dist-info/RECORD

# Console scripts carry this machine's interpreter path; direct_url.json the temporary
# directory (it would change the build id of identical builds).
rm -rf "$site/bin"
rm -f "$site"/*.dist-info/direct_url.json
sed -i '/\/direct_url\.json,/d' "$site"/*.dist-info/RECORD
if compgen -G "$site/*.pth" >/dev/null; then
  # The launcher's fast path puts site-packages on sys.path without processing .pth files.
  echo "build-zipapp: a dependency installs a .pth file ($(ls "$site"/*.pth)); hack/zipapp/launcher.py must handle it" >&2
  exit 1
fi

interpreter='/usr/bin/env python3'
build_minor=$("$python" -c 'import sys; print(sys.version_info[:2])')
if [ -x /usr/bin/python3 ] && [ "$(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])')" = "$build_minor" ]; then
  interpreter='/usr/bin/python3 -S'
fi

mkdir -p "$(dirname "$output")"
"$python" "$repo/hack/zipapp/shiv_build.py" \
  --site-packages "$site" \
  --entry-point kubedtn.main:main \
  --python "$interpreter" \
  --compile-pyc \
  --reproducible \
  --root "$zipapp_root" \
  --output-file "$output.tmp"
mv "$output.tmp" "$output"
echo "build-zipapp: $output ($(du -h "$output" | cut -f1)), extracts to $zipapp_root"
