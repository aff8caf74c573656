#!/bin/bash
# Copy a locally built image to cluster nodes that have no registry to pull it from:
#
#   hack/distribute-image.sh IMAGE NODE...        (or NODES="n1 n2" hack/distribute-image.sh IMAGE)
#   e.g. make cni-docker && hack/distribute-image.sh kubedtn-node:$(hack/version.sh) node1 node2
#
# The image is saved once (CONTAINER_TOOL save) and streamed to each node into containerd's
# k8s.io namespace, where kubelet looks (`ctr images import -`), then tagged with the name
# kubelet asks for: a manifest's `kubedtn-node:v1` is docker.io/library/kubedtn-node:v1 to
# containerd, while podman saves it as localhost/kubedtn-node:v1. With imagePullPolicy
# IfNotPresent (the manifests') the nodes then never pull it.
#
# How a node is reached, each overridable (the tests run it against a local containerd):
#   NODE_EXEC  a command run as `$NODE_EXEC NODE COMMAND...` (default: ssh -o BatchMode=yes)
#   CTR        containerd's client on the node (default: ctr; e.g. "sudo ctr", or
#              "ctr --address /run/k3s/containerd/containerd.sock" on k3s)
set -euo pipefail

image=${1:?usage: hack/distribute-image.sh IMAGE NODE... (or NODES="...")}
shift
nodes=("$@")
if [ ${#nodes[@]} -eq 0 ]; then
  read -r -a nodes <<<"${NODES:-}"
fi
if [ ${#nodes[@]} -eq 0 ]; then
  echo "distribute-image: no nodes: name them as arguments or in NODES" >&2
  exit 2
fi
tool=${CONTAINER_TOOL:-$("$(dirname "$0")/container-tool.sh")}
node_exec=${NODE_EXEC:-ssh -o BatchMode=yes}
ctr=${CTR:-ctr}

# The reference kubelet resolves `image` to (containerd's normalisation of Docker names).
normalized() {
  local ref=$1 first rest
  case $ref in
    */*) first=${ref%%/*} rest=${ref#*/} ;;
    *) first= rest=$ref ;;
  esac
  case $first in
    *.* | *:* | localhost) ;;
    '') ref=docker.io/library/$rest ;;
    *) ref=docker.io/$ref ;;
  esac
  case ${ref##*/} in
    *:* | *@*) ;;
    *) ref=$ref:latest ;;
  esac
  echo "$ref"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archive=$work/image.tar
# shellcheck disable=SC2086  # $tool is a command line
$tool save -o "$archive" "$image"
# The name the archive carries (docker-archive manifest.json, RepoTags): what ctr imports it as.
saved=$(tar -xOf "$archive" manifest.json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["RepoTags"][0])')
saved=$(normalized "$saved")
wanted=$(normalized "$image")
echo "distribute-image: $image ($(du -h "$archive" | cut -f1)) as $wanted to ${nodes[*]}"

for node in "${nodes[@]}"; do
  # shellcheck disable=SC2086  # command lines
  $node_exec "$node" $ctr -n k8s.io images import - <"$archive" >/dev/null ||
    {
      echo "distribute-image: importing into containerd on $node failed ($node_exec $node $ctr -n k8s.io images import -)" >&2
      exit 1
    }
  if [ "$saved" != "$wanted" ]; then
    # shellcheck disable=SC2086
    $node_exec "$node" $ctr -n k8s.io images tag --force "$saved" "$wanted" >/dev/null
  fi
  echo "distribute-image: $node has $wanted"
done
