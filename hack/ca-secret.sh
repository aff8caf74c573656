#!/bin/sh
# The CA of the daemons' mutual TLS as a Secret, made once:
#   KUBECTL=kubectl KUBEDTN=kubedtn hack/ca-secret.sh NAMESPACE NAME
# Nothing is done when the Secret exists (a new CA would make every node's certificate
# distrusted by the nodes not yet restarted). Otherwise a new CA (`kubedtn certs ca`) goes
# into Secret NAME (ca.crt, ca.key), created with the namespace if that is missing; the
# key is kept nowhere else (its temporary directory is removed).
set -eu
namespace=$1 name=$2
kubectl=${KUBECTL:-kubectl}
kubedtn=${KUBEDTN:-kubedtn}

if $kubectl -n "$namespace" get secret "$name" >/dev/null 2>&1; then
    echo "secret $namespace/$name exists: keeping its CA"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$kubedtn certs ca --out "$tmp/ca" >/dev/null
# (Made as YAML, then created from it: what any API server takes.)
if ! $kubectl get namespace "$namespace" >/dev/null 2>&1; then
    $kubectl create namespace "$namespace" --dry-run=client -o yaml | $kubectl create -f -
fi
$kubectl -n "$namespace" create secret generic "$name" --dry-run=client -o yaml \
    --from-file=ca.crt="$tmp/ca/ca.crt" --from-file=ca.key="$tmp/ca/ca.key" | $kubectl create -f -
