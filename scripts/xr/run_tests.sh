#!/usr/bin/env bash
# `make test-xr`: build or reuse the trixie chroot, start Monado (simulated HMD, null compositor) inside it,
# run pytest tests/xr_openxr on the chroot's Python 3.13, stop Monado and unmount on any exit.
# Prints one "SKIPPED: why" line and exits 0 where chroots or mounts are not permitted.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/common.sh"
t0=$(date +%s)

[ "$(uname -s)" = Linux ] || skip "the Monado chroot needs Linux"
[ "$(id -u)" = 0 ] || skip "needs root for debootstrap, chroot and mounts; run: sudo make test-xr"
chroot_bin=$(command -v chroot) || skip "no chroot binary (coreutils)"

# Containers without CAP_SYS_ADMIN/CAP_SYS_CHROOT cannot do this at all: find out before building anything.
probe=$(mktemp -d)
if ! err=$(mount -t tmpfs codecav-xr-probe "$probe" 2>&1 | head -n1; exit "${PIPESTATUS[0]}"); then
    rmdir "$probe"
    skip "mounting is not permitted here (${err:-mount failed}); run on a VM or a privileged container"
fi
umount "$probe"; rmdir "$probe"
err=$("$chroot_bin" / /bin/true 2>&1) || skip "chroot is not permitted here (${err:-chroot failed}); run with CAP_SYS_CHROOT"

set +e
"$here/build_chroot.sh"
rc=$?
set -e
[ $rc = 3 ] && skip "could not build the chroot (see the line above)"
[ $rc = 0 ] || { echo "codecav test-xr: building the chroot failed"; exit 1; }

monado_pid=""
xvfb_pid=""
pytest_pid=""
stop() {
    # stop PID: TERM, wait up to 5 s, then KILL (only processes this script started).
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
}
cleanup() {
    set +e
    if [ -n "$pytest_pid" ]; then
        kill -TERM -- "-$pytest_pid" 2>/dev/null  # pytest's process group: pytest and its session children
        sleep 1
        kill -KILL -- "-$pytest_pid" 2>/dev/null
    fi
    stop "$xvfb_pid"
    stop "$monado_pid"
    "$here/mounts.sh" umount
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! "$here/mounts.sh" mount 2>/tmp/codecav-xr-mount.err; then
    why=$(head -n1 /tmp/codecav-xr-mount.err)
    skip "cannot mount proc/sys/dev into the chroot (${why:-mount failed}); run on a host that allows mounts"
fi

# The project source, copied (not bind-mounted) so nothing in the repository is written by root.
src="$CHROOT/opt/codecav-src"
mkdir -p "$src"
tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=./out --exclude=./.mypy_cache --exclude=./.pytest_cache -cf - . | tar -C "$src" -xf -
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true

# The venv on the chroot's Python 3.13, reinstalled only when pyproject.toml changes.
want=$(sha256sum "$repo/pyproject.toml" | cut -c1-16)
have=$(cat "$CHROOT$CHROOT_VENV/.codecav-pyproject" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    echo "codecav test-xr: installing the project into $CHROOT_VENV (chroot, Python 3)"
    # The host's CA bundle travels along so pip works behind a TLS-inspecting proxy the host trusts.
    host_ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
    mkdir -p "$CHROOT/etc/codecav-xr"
    cp "$host_ca" "$CHROOT/etc/codecav-xr/host-ca.crt" 2>/dev/null || cp "$CHROOT/etc/ssl/certs/ca-certificates.crt" "$CHROOT/etc/codecav-xr/host-ca.crt"
    env -i HOME=/root PATH=/usr/bin:/bin PIP_CERT=/etc/codecav-xr/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$chroot_bin" "$CHROOT" /bin/sh -c "python3 -m venv $CHROOT_VENV && $CHROOT_VENV/bin/pip install -q --upgrade pip \
        && $CHROOT_VENV/bin/pip install -q -e '/opt/codecav-src[test]'" >"$CHROOT/tmp/codecav-pip.log" 2>&1 \
        || { tail -n5 "$CHROOT/tmp/codecav-pip.log"
             echo "codecav test-xr: pip install inside the chroot failed (PyPI reachable?); see $CHROOT/tmp/codecav-pip.log"
             exit 1; }
    echo "$want" >"$CHROOT$CHROOT_VENV/.codecav-pyproject"
fi

runtime_dir=/run/codecav-xr
common_env=(HOME=/root XDG_RUNTIME_DIR=$runtime_dir PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
log="$CHROOT/tmp/monado-service.log"
env -i "${common_env[@]}" XRT_COMPOSITOR_NULL=1 SIMULATED_ENABLE=1 XRT_NO_STDIN=1 \
    "$chroot_bin" "$CHROOT" monado-service >"$log" 2>&1 &
monado_pid=$!
for _ in $(seq 100); do
    [ -S "$CHROOT$runtime_dir/monado_comp_ipc" ] && break
    kill -0 "$monado_pid" 2>/dev/null || { echo "codecav test-xr: monado-service exited:"; tail -n5 "$log"; exit 1; }
    sleep 0.1
done
[ -S "$CHROOT$runtime_dir/monado_comp_ipc" ] || { echo "codecav test-xr: Monado's socket did not appear in 10 s"; exit 1; }

# Xvfb for the GLX binding. The chroot shares the host's network namespace, so X's abstract sockets
# collide with any X server on the host: let Xvfb pick a free display number (-displayfd).
displayfile="$CHROOT/tmp/codecav-xvfb-display"
rm -f "$displayfile"
env -i PATH=/usr/bin:/bin "$chroot_bin" "$CHROOT" /bin/sh -c \
    "exec Xvfb -displayfd 3 -screen 0 640x480x24 -nolisten tcp 3>/tmp/codecav-xvfb-display" \
    >"$CHROOT/tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do [ -s "$displayfile" ] && break; sleep 0.1; done
display=""
[ -s "$displayfile" ] && display=":$(tr -dc 0-9 <"$displayfile")"
[ -n "$display" ] || echo "codecav test-xr: Xvfb did not start (see $CHROOT/tmp/xvfb.log); GLX tests will fail"
echo "codecav test-xr: monado-service up (pid $monado_pid), Xvfb on ${display:-none}; running tests/xr_openxr"

# pytest runs in its own session (setsid) and in the background, so an interrupt reaches the trap at once
# and the trap can stop pytest together with the session processes it started.
set +e
setsid env -i "${common_env[@]}" DISPLAY="$display" OXR_NO_PRINTING=1 \
    XR_RUNTIME_JSON=/usr/share/openxr/1/openxr_monado.json CODECAV_XR_EXPECT_RUNTIME=1 \
    "$chroot_bin" "$CHROOT" /bin/sh -c "cd /opt/codecav-src && exec $CHROOT_VENV/bin/python -m pytest \
        -p no:cacheprovider -q -rA --basetemp=/tmp/codecav-xr-pytest tests/xr_openxr $*" &
pytest_pid=$!
wait "$pytest_pid"
rc=$?
pytest_pid=""
set -e
# One line per session: what was measured (the JSON reports stay under $CHROOT/tmp/codecav-xr-pytest).
command -v python3 >/dev/null 2>&1 && python3 "$here/summarize_reports.py" "$CHROOT/tmp/codecav-xr-pytest" || true
echo "codecav test-xr: pytest exit $rc after $(( $(date +%s) - t0 )) s in all"
exit $rc
