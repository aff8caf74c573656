#!/bin/bash
# Compile the eBPF programs under bpf/ into objects, deterministically.
#
#   hack/build-bpf.sh OUTDIR      (make bpf: src/kubedtn/ebpf/objects)
#   hack/build-bpf.sh --check     (make bpf-check: rebuild into a temporary directory and
#                                  fail if a committed object differs from its source)
#
# Same sources, same clang: byte-identical objects. The compilation directory and the
# source path are written relative (-fdebug-compilation-dir, -fdebug-prefix-map: .BTF
# carries the file name), and the DWARF sections are stripped (llvm-strip -g): .BTF and
# .BTF.ext stay, which is all the loader reads.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
committed=$repo/src/kubedtn/ebpf/objects
clang=${CLANG:-clang}
strip=${LLVM_STRIP:-llvm-strip}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")

build() {
  local out=$1
  mkdir -p "$out"
  cd "$repo"
  for source in bpf/*.c; do
    local object=$out/$(basename "${source%.c}").o
    "$clang" -O2 -g -target bpf -Wall -Werror \
      -I"/usr/include/$multiarch" -Ibpf/include \
      -fdebug-compilation-dir=. -fdebug-prefix-map="$repo"=. \
      -c "$source" -o "$object.tmp"
    "$strip" -g "$object.tmp" -o "$object"
    rm -f "$object.tmp"
  done
}

if [ "${1:-}" = "--check" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  build "$work"
  status=0
  for object in "$work"/*.o; do
    name=$(basename "$object")
    if ! cmp -s "$object" "$committed/$name"; then
      echo "bpf-check: $committed/$name differs from what bpf/${name%.o}.c compiles to: run 'make bpf' and commit" >&2
      status=1
    fi
  done
  for object in "$committed"/*.o; do
    [ -e "$work/$(basename "$object")" ] || { echo "bpf-check: $object has no source in bpf/" >&2; status=1; }
  done
  [ $status = 0 ] && echo "bpf-check: the committed objects match bpf/ ($("$clang" --version | head -1))"
  exit $status
fi
build "${1:?usage: hack/build-bpf.sh OUTDIR | --check}"
