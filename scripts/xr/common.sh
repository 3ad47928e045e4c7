# Shared settings for the OpenXR chroot scripts (sourced, not run).
# CODECAV_XR_ROOT overrides where the trixie chroot lives (outside the repo; reused when complete).
CHROOT="${CODECAV_XR_ROOT:-/var/cache/codecav-xr/trixie}"
SUITE=trixie
MIRROR="${CODECAV_XR_MIRROR:-http://deb.debian.org/debian}"
# Debian packages inside the chroot: Monado's service and OpenXR runtime, the loader, Mesa (llvmpipe, EGL, GLX), Xvfb.
CHROOT_PACKAGES="monado-service libopenxr1-monado libopenxr-loader1 mesa-vulkan-drivers libgl1-mesa-dri libglx-mesa0 libegl-mesa0 libegl1 libgl1 xvfb xauth python3-venv ca-certificates"
# Marker written last by build_chroot.sh: its presence means the chroot is complete.
STAMP="$CHROOT/.codecav-xr-complete"
# Where the repository appears inside the chroot (bind mount) and the venv built there.
CHROOT_REPO=/codecav
CHROOT_VENV=/opt/codecav-venv

skip() {
    # One line saying why the OpenXR tests were skipped; exit 0 so `make test-xr` does not fail CI.
    echo "codecav test-xr: SKIPPED: $*"
    exit 0
}
