#!/usr/bin/env bash
# mount|umount the pseudo filesystems and the tmpfs runtime dir the Monado chroot needs.
# Idempotent: mounting skips what is mounted, unmounting skips what is not (safe in a trap).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

targets=(proc sys dev dev/pts run/codecav-xr)

is_mounted() { mountpoint -q "$CHROOT/$1"; }

case "${1:-}" in
mount)
    set -e
    for t in "${targets[@]}"; do mkdir -p "$CHROOT/$t"; done
    is_mounted proc || mount -t proc proc "$CHROOT/proc"
    is_mounted sys || mount --rbind /sys "$CHROOT/sys"
    is_mounted dev || mount --bind /dev "$CHROOT/dev"
    is_mounted dev/pts || mount --bind /dev/pts "$CHROOT/dev/pts"
    # Monado's IPC socket lives here; service and client must share it.
    is_mounted run/codecav-xr || mount -t tmpfs -o mode=0700,size=64m codecav-xr "$CHROOT/run/codecav-xr"
    ;;
umount)
    rc=0
    for ((i = ${#targets[@]} - 1; i >= 0; i--)); do
        t="${targets[$i]}"
        if is_mounted "$t"; then
            umount -R "$CHROOT/$t" 2>/dev/null || umount -R -l "$CHROOT/$t" || rc=1
        fi
    done
    exit $rc
    ;;
*)
    echo "usage: $0 mount|umount" >&2
    exit 2
    ;;
esac
