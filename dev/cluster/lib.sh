# Shared by build, up, down, component, kubectl and pin. Sourced, not executed.
# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# GITSEAL_CLUSTER_NAME=<name> runs a second control plane of this checkout beside the
# default one, with its own state (.state-<name>) and lock, e.g. for tests that stop
# components while other tests use the default one.
CLUSTER_NAME="${GITSEAL_CLUSTER_NAME:-}"
if [[ -n "${CLUSTER_NAME}" ]]; then
    [[ "${CLUSTER_NAME}" =~ ^[a-z0-9][a-z0-9-]*$ ]] \
        || { echo "GITSEAL_CLUSTER_NAME must be lower-case letters, digits and dashes" >&2; exit 2; }
    STATE_DIR="${CLUSTER_DIR}/.state-${CLUSTER_NAME}"
    LOCK_FILE="${CLUSTER_DIR}/.lock-${CLUSTER_NAME}"
else
    STATE_DIR="${CLUSTER_DIR}/.state"
    LOCK_FILE="${CLUSTER_DIR}/.lock"
fi
PIDS="${STATE_DIR}/pids"
LOGS="${STATE_DIR}/logs"
CMDS="${STATE_DIR}/cmd"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
# The opt-in node (`up --node`, node.sh), in start order. It lives in the host's network
# namespace (its kube-proxy rules, its bridge), so one machine runs one node at a time;
# NODE_OWNER names the state dir of the control plane that has it.
NODE_COMPONENTS=(containerd kube-scheduler kubelet kube-proxy)
NODE_NAME=gitseal-node
NODE_IP=10.213.0.1 # the bridge's address: the pods' gateway, the API server's advertised address
POD_SUBNET=10.213.0.0/24
NODE_BRIDGE=gitseal0
NODE_CGROUP=gitseal-node # the kubelet's cgroup root, in every v1 hierarchy
NODE_OWNER=/run/gitseal-node/owner
READY_TIMEOUT="${GITSEAL_CLUSTER_TIMEOUT:-120}" # seconds

# The wrapper modules are the single source of truth for the versions: a bump is
# `dev/cluster/pin <k8s> <etcd>`, which rewrites their go.mod/go.sum.
module_version() { # <wrapper dir> <module path>
    awk -v m="$2" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' \
        "${CLUSTER_DIR}/$1/go.mod"
}

# The cache key names both versions (readable) and hashes the wrapper modules and
# the build script, so any change to what gets built lands in a new directory.
cache_key() {
    local digest
    digest="$(cat "${CLUSTER_DIR}"/kube/go.mod "${CLUSTER_DIR}"/kube/go.sum \
        "${CLUSTER_DIR}"/etcd/go.mod "${CLUSTER_DIR}"/etcd/go.sum "${CLUSTER_DIR}"/etcd/*.go \
        "${CLUSTER_DIR}"/build | sha256sum | cut -c1-12)"
    printf 'k8s-%s_etcd-%s_%s' "$(module_version kube k8s.io/kubernetes)" \
        "$(module_version etcd go.etcd.io/etcd/server/v3)" "${digest}"
}

CACHE_ROOT="${GITSEAL_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/gitseal}"
# Where build puts, and up takes, the binaries of the current pins.
bin_dir() { printf '%s/%s/bin' "${CACHE_ROOT}" "$(cache_key)"; }
# etcd first; the rest are commands of k8s.io/kubernetes. The node's three are built with
# the control plane: one go build shares the compiled packages, and `up --node` needs no
# second build step.
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)

binaries_present() { # <bin dir>
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$1/${b}" ]] || return 1
    done
}

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# One up, down or component at a time per control plane. The lock lives beside the state
# dir, which down removes.
lock_cluster() {
    exec 9>"${LOCK_FILE}"
    flock 9
}

# A value that up wrote into the state dir's env file (ports, server URL).
state_env() { # <key>
    awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "${STATE_DIR}/env"
}

# A PID counts as ours only while its command line names this state dir, so a recycled
# PID or another control plane's process is never touched.
ours() { # <pid>
    [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "${STATE_DIR}/"
}

pid_alive() { # <component>: the recorded process still runs and still is ours
    local pid
    pid="$(cat "${PIDS}/$1" 2>/dev/null)" && ours "${pid}"
}

# The PIDs of one component: the recorded one, and, as a fallback for a lost PID file,
# any process of that binary whose arguments point into the state dir.
pids_of() { # <component>
    local pid comm dir
    {
        pid="$(cat "${PIDS}/$1" 2>/dev/null)" && ours "${pid}" && echo "${pid}"
        for dir in /proc/[0-9]*; do
            pid="${dir#/proc/}"
            comm="$(cat "${dir}/comm" 2>/dev/null)" || continue
            # comm is cut to 15 characters: kube-controller-manager shows as kube-controller
            [[ "$1" == "${comm}"* ]] && ours "${pid}" && echo "${pid}"
        done
    } | awk '!seen[$0]++'
}

# SIGTERM, up to 10s for a clean exit, then SIGKILL. Does nothing when it is not running.
stop_component() { # <component>
    local pids alive pid
    mapfile -t pids < <(pids_of "$1")
    (( ${#pids[@]} )) || return 0
    log "stopping $1 (${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 100); do
        alive=()
        for pid in "${pids[@]}"; do ours "${pid}" && alive+=("${pid}"); done
        (( ${#alive[@]} )) || return 0
        sleep 0.1
    done
    log "$1 ignored SIGTERM for 10s; killing it"
    kill -KILL "${alive[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
        alive=()
        for pid in "${pids[@]}"; do ours "${pid}" && alive+=("${pid}"); done
        (( ${#alive[@]} )) || return 0
        sleep 0.1
    done
}

# Records a component's command line in cmd/<name>, one argument per NUL-terminated
# field, so that a restart runs exactly what up ran (ports, data dir, PKI).
record_command() { # <name> <binary> <args...>
    local name="$1"
    shift
    mkdir -p "${CMDS}"
    printf '%s\0' "$@" > "${CMDS}/${name}"
}

# Starts a component from its recorded command line, in its own session, detached from
# this shell and its terminal, its output appended to logs/<name>.log. The child records
# its own PID before exec'ing, so the PID is right whether or not setsid had to fork.
start_component() { # <name>
    local name="$1" cmd
    [[ -s "${CMDS}/${name}" ]] || die "no recorded command line for ${name} in ${CMDS}"
    mapfile -d '' -t cmd < "${CMDS}/${name}"
    mkdir -p "${PIDS}" "${LOGS}"
    rm -f "${PIDS}/${name}"
    printf '=== %s: %s started by %s\n' "$(date -u +%FT%TZ)" "${name}" "$(basename "$0")" >> "${LOGS}/${name}.log"
    # shellcheck disable=SC2016 # $$ and $@ are the child shell's
    setsid nohup bash -c 'echo $$ > "$0"; exec "$@"' "${PIDS}/${name}" "${cmd[@]}" \
        >>"${LOGS}/${name}.log" 2>&1 </dev/null 9>&- &
    for _ in $(seq 50); do
        [[ -s "${PIDS}/${name}" ]] && return 0
        sleep 0.1
    done
    die "${name} did not start; see ${LOGS}/${name}.log"
}

# One health check of a component: etcd's /health, the API server's /readyz (with the
# admin kubeconfig, default the state dir's), the controller manager's, scheduler's,
# kubelet's and kube-proxy's /healthz, containerd's version over its socket.
probe() { # <component> [admin kubeconfig]
    local kubectl
    kubectl=("$(cat "${STATE_DIR}/bin")/kubectl" --request-timeout=5s)
    case "$1" in
        etcd) "${kubectl[@]}" --kubeconfig=/dev/null --server="http://127.0.0.1:$(state_env ETCD_PORT)" \
            get --raw /health ;;
        kube-apiserver) "${kubectl[@]}" --kubeconfig="${2:-${STATE_DIR}/kubeconfig}" get --raw /readyz ;;
        # Its serving certificate is self-signed into its cert dir; a client certificate
        # keeps kubectl from prompting for a password.
        kube-controller-manager) "${kubectl[@]}" --kubeconfig=/dev/null \
            --server="https://127.0.0.1:$(state_env CONTROLLER_MANAGER_PORT)" \
            --certificate-authority="${STATE_DIR}/controller-manager-certs/kube-controller-manager.crt" \
            --client-certificate="${STATE_DIR}/pki/admin.crt" --client-key="${STATE_DIR}/pki/admin.key" \
            get --raw /healthz ;;
        # The node's (`up --node`); the scheduler's serving certificate is self-signed too.
        kube-scheduler) "${kubectl[@]}" --kubeconfig=/dev/null --insecure-skip-tls-verify \
            --server="https://127.0.0.1:$(state_env SCHEDULER_PORT)" \
            --client-certificate="${STATE_DIR}/pki/admin.crt" --client-key="${STATE_DIR}/pki/admin.key" \
            get --raw /healthz ;;
        containerd) ctr --address "${STATE_DIR}/node/containerd/containerd.sock" version ;;
        kubelet) "${kubectl[@]}" --kubeconfig=/dev/null \
            --server="http://127.0.0.1:$(state_env KUBELET_HEALTHZ_PORT)" get --raw /healthz ;;
        kube-proxy) "${kubectl[@]}" --kubeconfig=/dev/null \
            --server="http://127.0.0.1:$(state_env PROXY_HEALTHZ_PORT)" get --raw /healthz ;;
        *) die "no such component: $1" ;;
    esac
}

# Polls <command...> twice a second until it succeeds; fails early when <component> exits.
wait_for() { # <what> <component> <command...>
    local what="$1" component="$2" deadline=$(( SECONDS + READY_TIMEOUT ))
    local logfile="${LOGS}/$2.log"
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ! pid_alive "${component}"; then
            tail -n 20 "${logfile}" >&2 || true
            die "${component} exited while waiting for ${what}; see ${logfile}, then run dev/cluster/down"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 20 "${logfile}" >&2 || true
            die "timed out after ${READY_TIMEOUT}s waiting for ${what}; see ${logfile}, then run dev/cluster/down"
        fi
        sleep 0.5
    done
}
