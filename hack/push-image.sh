#!/bin/sh
# Push IMAGE to its registry (make cni-push, make docker-push) with CONTAINER_TOOL.
# A name with no '/' (kubedtn-node:v1, the Makefile's default) is refused: podman would
# push it to "localhost", docker to Docker Hub's official library/, and a cluster pulls
# from neither. PUSH_FLAGS: more flags for the push (podman's --tls-verify=false for a
# registry without TLS; docker takes that from its daemon's insecure-registries).
set -eu
image=${1:?usage: hack/push-image.sh IMAGE}
tool=${CONTAINER_TOOL:-docker}
case $image in
  */*) ;;
  *)
    echo "push-image: '$image' names no registry; name one, e.g. make cni-push CNI_IMG=registry.example:5000/kubedtn-node:TAG (or make docker-push IMG=...)" >&2
    exit 2
    ;;
esac
# shellcheck disable=SC2086  # command lines
exec $tool push ${PUSH_FLAGS:-} "$image"
