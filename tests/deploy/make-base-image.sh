#!/usr/bin/env bash
# tests/deploy/make-base-image.sh: puts a debian:bookworm base image into podman's local
# storage, built from Debian's own archive (the only registry the project's machines reach),
# so that the deploy suite's `podman build` step can run instead of being skipped.
#
#   tests/deploy/make-base-image.sh          (root; ~2 minutes, ~200 MB)
#
# debootstrap --variant=minbase, apt cache emptied, imported as docker.io/library/debian:bookworm.
# Not run by the tests: an image left in local storage makes every deploy run build the image
# (a few minutes). Remove it with: podman rmi docker.io/library/debian:bookworm
set -euo pipefail
command -v debootstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
root=$(mktemp -d /tmp/bookworm-rootfs-XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - docker.io/library/debian:bookworm
podman image ls docker.io/library/debian:bookworm
