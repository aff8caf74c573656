#!/bin/sh
# Print each image's size as the builder stores it (unpacked) and the size of each layer
# that adds files, with the step that made it.
#   CONTAINER_TOOL=podman hack/image-sizes.sh IMAGE...
set -eu
tool=${CONTAINER_TOOL:-docker}
for image in "$@"; do
  # shellcheck disable=SC2086  # $tool is a command line
  size=$($tool image inspect --format '{{.Size}}' "$image")
  echo "image-sizes: $image $((size / 1000000)) MB"
  # shellcheck disable=SC2086
  $tool history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$image" |
    grep -v '^0 B' |
    sed -e 's/|[0-9]* [A-Z_]*=[^ ]* //' -e 's,/bin/sh -c #(nop) ,,' -e 's,/bin/sh -c ,RUN ,' |
    cut -c1-100 | sed 's/^/  /'
done
