#!/bin/bash
# Build one of kubedtn's images from images/Dockerfile (make cni-docker, make docker-build):
#
#   CONTAINER_TOOL=docker|podman VERSION=... hack/build-image.sh node|controller IMAGE
#
# The context is the repository; dist/kubedtn must be built (the Makefile's targets depend
# on it). BASE, when set, is the image FROM which both are built; unset, docker builds from
# the Dockerfile's default (debian:bookworm-slim) and podman from hack/image-base.sh's
# (Debian's packages by mmdebstrap: no registry needed). podman builds on the host's
# network (RUN apt-get reaches Debian's mirror without podman setting up a bridge) with
# the settings of CONTAINERS_CONF (the Makefile's PODMAN_CONF). The image IMAGE had before
# is removed when nothing else uses it, so rebuilds do not pile up.
set -euo pipefail

target=${1:?usage: hack/build-image.sh node|controller IMAGE}
image=${2:?usage: hack/build-image.sh node|controller IMAGE}
tool=${CONTAINER_TOOL:-docker}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=${VERSION:-$("$repo/hack/version.sh")}

case $target in
  node | controller) ;;
  *)
    echo "build-image: target '$target' is not an image of images/Dockerfile; it has: node, controller" >&2
    exit 2
    ;;
esac
if [ ! -f "$repo/dist/kubedtn" ]; then
  echo "build-image: $repo/dist/kubedtn is missing: run 'make build' first" >&2
  exit 1
fi
command -v "${tool%% *}" >/dev/null || {
  echo "build-image: CONTAINER_TOOL=$tool is not installed (docker, or Debian's podman: make deps)" >&2
  exit 1
}

args=(build -f "$repo/images/Dockerfile" --target "$target" --build-arg "VERSION=$version" -t "$image")
case $(basename "${tool%% *}") in
  podman)
    args+=(--network=host)
    base=${BASE:-$(PODMAN="$tool" "$repo/hack/image-base.sh")}
    ;;
  *) base=${BASE:-} ;;
esac
[ -z "$base" ] || args+=(--build-arg "BASE=$base")

before=$($tool image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
start=$(date +%s)
# shellcheck disable=SC2086  # $tool is a command line
$tool "${args[@]}" "$repo"
after=$($tool image inspect --format '{{.Id}}' "$image")
if [ -n "$before" ] && [ "$before" != "$after" ]; then
  $tool rmi "$before" >/dev/null 2>&1 || true  # still tagged elsewhere or in use: kept
fi
size=$($tool image inspect --format '{{.Size}}' "$image")
echo "build-image: $image ($target, $((size / 1000000)) MB, $(($(date +%s) - start)) s) from ${base:-debian:bookworm-slim}"
