# A private containerd for image/check. Sourced after lib.sh, not executed.
# shellcheck shell=bash
#
# Its root, state, socket, runc state and FIFOs all live under one directory, so it
# neither sees nor disturbs another containerd. The one path containerd 1.6 does not let
# us move is the shim socket directory /run/containerd/s (a hash per container; shared by
# every containerd on the machine), which is therefore left in place, empty.

CTRD_DIR=""
containerd_pid=""

ctrd() { ctr --address "${CTRD_DIR}/containerd.sock" --namespace k8s.io "$@"; }
# ctr 1.6 has no --user: the container runs as the image config's User, which is the
# point of the check.
ctr_run() { ctrd run --runc-root "${CTRD_DIR}/runc" --fifo-dir "${CTRD_DIR}/fifo" "$@"; }

start_containerd() { # <dir>
    CTRD_DIR="$1"
    mkdir -p "${CTRD_DIR}/root" "${CTRD_DIR}/state" "${CTRD_DIR}/runc" "${CTRD_DIR}/fifo"
    # No CRI plugin: ctr needs none, and it would look for CNI and a sandbox image.
    cat >"${CTRD_DIR}/config.toml" <<EOF
version = 2
root = "${CTRD_DIR}/root"
state = "${CTRD_DIR}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${CTRD_DIR}/containerd.sock"
[ttrpc]
  address = "${CTRD_DIR}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
    containerd --config "${CTRD_DIR}/config.toml" >"${CTRD_DIR}/containerd.log" 2>&1 </dev/null &
    containerd_pid=$!
    local _
    for _ in $(seq 100); do
        if ctrd version >/dev/null 2>&1; then
            log "private containerd ${containerd_pid} on ${CTRD_DIR}/containerd.sock"
            return 0
        fi
        kill -0 "${containerd_pid}" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "${CTRD_DIR}/containerd.log" >&2
    die "containerd did not start (log above)"
}

# The shims this containerd started: their command line names its socket.
our_shims() {
    local proc pid
    for proc in /proc/[0-9]*/cmdline; do
        pid="${proc#/proc/}"
        pid="${pid%/cmdline}"
        tr '\0' ' ' 2>/dev/null <"${proc}" | grep -qF -- "-address ${CTRD_DIR}/containerd.sock " \
            && echo "${pid}"
    done
    return 0
}

stop_containerd() {
    local pid mnt _
    # Containers first (a failed check may leave one running), then containerd, then
    # whatever shim outlived it.
    for pid in $(ctrd tasks ls -q 2>/dev/null); do
        ctrd tasks kill -s SIGKILL "${pid}" >/dev/null 2>&1 || true
    done
    kill "${containerd_pid}" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "${containerd_pid}" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "${containerd_pid}" 2>/dev/null || true
    wait "${containerd_pid}" 2>/dev/null || true
    containerd_pid=""
    for pid in $(our_shims); do
        kill -9 "${pid}" 2>/dev/null || true
    done
    # Deepest first: overlay mounts of containers sit inside the snapshotter's directory.
    awk -v d="${CTRD_DIR}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | LC_ALL=C sort -r \
        | while read -r mnt; do umount "${mnt}" || umount -l "${mnt}"; done
}
