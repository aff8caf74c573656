#!/bin/bash
# Regenerate the tests' CRI client modules from tests/support/cri/cri_runtime_v1.proto
# (our subset of the Kubernetes CRI, package runtime.v1).
#
#   hack/gen-cri-proto.sh PYTHON [OUTDIR]
#
# As hack/gen-proto.sh: PYTHON must have grpcio-tools; the modules land in
# OUTDIR/tests/support/cri/ (OUTDIR defaults to the repository, i.e. the committed copy);
# protoc's bare `import cri_runtime_v1_pb2` is rewritten to the package path; a test
# regenerates into a temporary directory and compares bytes to catch a stale commit.
set -euo pipefail

python=${1:?usage: hack/gen-cri-proto.sh PYTHON [OUTDIR]}
case $python in */*) python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python") ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
outdir=$(mkdir -p "${2:-$repo}" && cd "${2:-$repo}" && pwd)
target=$outdir/tests/support/cri
name=cri_runtime_v1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$repo/tests/support/cri"
"$python" -m grpc_tools.protoc -I . \
  --python_out="$work" --pyi_out="$work" --grpc_python_out="$work" \
  "$name.proto"

sed -i "s/^import ${name}_pb2 as /from tests.support.cri import ${name}_pb2 as /" "$work/${name}_pb2_grpc.py"
if grep -n "^import ${name}_pb2" "$work/${name}_pb2_grpc.py"; then
  echo "gen-cri-proto: generated code still imports the bare module (see above)" >&2
  exit 1
fi

mkdir -p "$target"
for f in "${name}_pb2.py" "${name}_pb2.pyi" "${name}_pb2_grpc.py"; do
  cmp -s "$work/$f" "$target/$f" || cp "$work/$f" "$target/$f"
done
echo "gen-cri-proto: wrote $target"
