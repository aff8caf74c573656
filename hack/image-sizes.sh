#!/bin/sh
# Print each image's size as the builder stores it (unpacked layers) and its layers.
#   CONTAINER_TOOL=podman hack/image-sizes.sh IMAGE...
set -eu
tool=${CONTAINER_TOOL:-docker}
for image in "$@"; do
  # shellcheck disable=SC2086  # $tool is a command line
  size=$($tool image inspect --format '{{.Size}}' "$image")
  echo "image-sizes: $image $((size / 1000000)) MB"
  $tool history --format '  {{.Size}}\t{{.CreatedBy}}' "$image" | grep -v '^  0 B' | cut -c1-110
done
