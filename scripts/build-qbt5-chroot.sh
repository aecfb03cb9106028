#!/bin/sh
# Build (once) a Debian 13 chroot holding qbittorrent-nox 5.x for the tests.
# Usage: build-qbt5-chroot.sh DIR   -- reuses DIR when it already has the binary.
set -eu
DIR=${1:?usage: build-qbt5-chroot.sh DIR}
if [ -x "$DIR/usr/bin/qbittorrent-nox" ]; then
    echo "qBittorrent 5.x chroot present: $DIR"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "building the qBittorrent 5.x chroot needs root (debootstrap, chroot)" >&2
    exit 1
fi
rm -rf "$DIR.tmp"
mkdir -p "$(dirname "$DIR")"
debootstrap --variant=minbase trixie "$DIR.tmp" http://deb.debian.org/debian
chroot "$DIR.tmp" apt-get update
chroot "$DIR.tmp" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends qbittorrent-nox
chroot "$DIR.tmp" apt-get clean
mv "$DIR.tmp" "$DIR"
echo "qBittorrent 5.x chroot built: $DIR"
