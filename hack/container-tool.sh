#!/bin/sh
# The image builder `make cni-docker`/`docker-build` use when CONTAINER_TOOL is not set:
# docker when a docker engine answers, else podman when it is installed (Debian's podman
# needs no daemon: the machines this project is tested on have it and no docker engine),
# else docker, so that the error names what is missing.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo docker
elif command -v podman >/dev/null 2>&1; then
  echo podman
else
  echo docker
fi
