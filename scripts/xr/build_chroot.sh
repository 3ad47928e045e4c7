#!/usr/bin/env bash
# Build (or reuse) the Debian trixie chroot with Monado for the OpenXR tests. Needs root and debootstrap.
# Exit codes: 0 built or already complete; 1 failed; 3 not permitted here (not root, no debootstrap).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

if [ -f "$STAMP" ]; then
    echo "codecav test-xr: reusing chroot $CHROOT (built $(cat "$STAMP"))"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "codecav test-xr: building the chroot needs root (debootstrap, mounts); run as root"
    exit 3
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || true
    fi
    command -v debootstrap >/dev/null 2>&1 || {
        echo "codecav test-xr: debootstrap is missing; apt-get install debootstrap"
        exit 3
    }
fi

start=$(date +%s)
# A half-built chroot from an interrupted run is removed rather than patched up.
if [ -d "$CHROOT" ]; then
    "$here/mounts.sh" umount || true
    rm -rf --one-file-system "$CHROOT"
fi
mkdir -p "$(dirname "$CHROOT")"
include=$(echo "$CHROOT_PACKAGES" | tr ' ' ',')
echo "codecav test-xr: debootstrap $SUITE into $CHROOT (takes a few minutes)"
debootstrap --variant=minbase --include="$include" "$SUITE" "$CHROOT" "$MIRROR" >"$CHROOT.debootstrap.log" 2>&1 || {
    echo "codecav test-xr: debootstrap failed; see $CHROOT.debootstrap.log"
    exit 1
}
chroot "$CHROOT" apt-get clean
rm -rf "$CHROOT"/var/lib/apt/lists/*
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
end=$(date +%s)
echo "$(date -u +%FT%TZ) in $((end - start)) s" >"$STAMP"
echo "codecav test-xr: chroot built in $((end - start)) s ($(du -sh --one-file-system "$CHROOT" | cut -f1))"
