#!/bin/bash
# The base image the Dockerfiles build FROM where no registry can be reached: a Debian
# bookworm root made by mmdebstrap from Debian's mirror, imported into podman.
#
#   hack/image-base.sh [IMAGE]       (default localhost/kubedtn-base:bookworm; prints IMAGE)
#
# What it is: Debian's Essential set plus apt (--variant=apt), /usr merged the way
# debootstrap and the official images do it (the merged-usr hook: installing the usrmerge
# package instead would pull in perl, ~50 MB), and the dpkg/apt settings of
# debian:bookworm-slim (no recommends; no docs but copyright files, man pages, info or
# locales), which stay in the image, so the Dockerfiles' own apt-get installs follow them
# too. About 71 MB, as debian:bookworm-slim.
#
# Made once: the image carries a label with the hash of its inputs (this script, the
# suite), and is reused while that label matches. KUBEDTN_BASE_REFRESH=1 makes it again
# (Debian's security updates since the last one). PODMAN: the podman command line.
set -euo pipefail

image=${1:-localhost/kubedtn-base:bookworm}
suite=bookworm
podman=${PODMAN:-podman}
label=io.kubedtn.base-inputs

options=(
  --variant=apt
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)
inputs=$( { cat "$0"; echo "$suite"; } | sha256sum | cut -c1-16)

have=$($podman image inspect --format "{{index .Labels \"$label\"}}" "$image" 2>/dev/null || true)
if [ "$have" = "$inputs" ] && [ "${KUBEDTN_BASE_REFRESH:-0}" != 1 ]; then
  echo "$image"
  exit 0
fi

for tool in mmdebstrap "${podman%% *}"; do
  command -v "$tool" >/dev/null || {
    echo "image-base: $tool is not installed (Debian package $tool; make deps installs it)" >&2
    exit 1
  }
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "image-base: making $image with mmdebstrap ($suite, from Debian's mirror)" >&2
# The tarball goes straight into podman: nothing of the root is left on disk here.
# shellcheck disable=SC2086  # $podman is a command line
if ! mmdebstrap --quiet "${options[@]}" "$suite" - 2>"$log" |
  $podman import --quiet \
    --change "LABEL $label=$inputs" \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$image" >/dev/null; then
  echo "image-base: mmdebstrap or podman import failed:" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "$image"
