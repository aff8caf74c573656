#!/bin/sh
# Render one kustomization of manifests/ with the images set, on stdout:
#   IMG=... CNI_IMG=... hack/render-manifests.sh manifests/cni [KUBECTL]
# IMG (the controller's image) and CNI_IMG (the node image) replace the placeholders of the
# same names (name, name:tag or name@digest). They are set in a throw-away overlay beside
# the kustomization (kustomize takes only relative paths), so the tree is never edited.
set -eu
dir=$(cd "$1" && pwd)
kubectl=${2:-kubectl}
tmp=$(mktemp -d "$(dirname "$dir")/.render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One images: entry; a tag is a ':' after the last '/' (a registry's port is not one).
image() {
    placeholder=$1 ref=$2
    printf '  - name: %s\n' "$placeholder"
    case $ref in
        *@*) printf '    newName: "%s"\n    digest: "%s"\n' "${ref%%@*}" "${ref#*@}" ;;
        *)
            last=${ref##*/}
            case $last in
                *:*) printf '    newName: "%s"\n    newTag: "%s"\n' "${ref%:*}" "${last##*:}" ;;
                *) printf '    newName: "%s"\n' "$ref" ;;
            esac
            ;;
    esac
}

{
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - ../$(basename "$dir")"
    echo "images:"
    [ -z "${IMG:-}" ] || image IMG "$IMG"
    [ -z "${CNI_IMG:-}" ] || image CNI_IMG "$CNI_IMG"
    [ -n "${IMG:-}${CNI_IMG:-}" ] || echo "  []"
} > "$tmp/kustomization.yaml"
"$kubectl" kustomize "$tmp"
