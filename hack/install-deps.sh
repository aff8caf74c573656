#!/bin/bash
# Installs the Debian packages kubedtn's tests, benchmarks and lab use, when any is missing.
#   iproute2, kmod                 ip/tc/bridge; modprobe for the user-mode Linux lane
#   containernetworking-plugins    the primary CNI plugins kubedtn is chained after
#   user-mode-linux                a full 6.1 kernel with sch_netem for the netem test lane
#   clang, llvm                    compiling the eBPF programs under bpf/ (llvm-strip; llvm-objdump
#                                  is the ELF reader's second opinion in tests) and bench/pingpong.c
#   bpftool                        the bypass tests' independent reading of attached programs
#   linux-libc-dev                 the kernel's uapi headers the eBPF programs include (linux/bpf.h)
#   python3.11-venv                building the project's virtualenv with Debian's Python
#   iperf3                         throughput checks in tests and benchmarks
#   iputils-ping                   `make lab` shows traffic across the lab's links with ping
#   openssl                        `kubedtn certs` and the lab's node certificates (mutual TLS)
#   patchelf                       hack/portable-python.sh (the CNI plugin's Python runtime)
#   mmdebstrap                     the Debian minbase root the plugin is tested on without Python;
#                                  the images' base where no registry is (hack/image-base.sh)
#   containerd, runc, podman       the node test's runtime (CRI) and the DaemonSet's pod on it;
#                                  building and running the images (make test-images)
#   docker-registry                a registry for make cni-push's test (its service is disabled)
#   gcc, libc6-dev                 the node test's sandbox (pause) binary, linked statically
set -euo pipefail
packages=(iproute2 kmod containernetworking-plugins user-mode-linux clang llvm bpftool linux-libc-dev python3.11-venv iperf3 iputils-ping openssl patchelf mmdebstrap
  containerd runc podman gcc libc6-dev docker-registry)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}; run as root (or: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The package enables a registry service on the host's port 5000 where systemd runs; the
# tests start their own registry in a namespace of theirs, and want none on the host.
if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry.service || true
fi
