# shellcheck shell=bash
# Shared set-up of the controller benches (controller.sh, hostile-memory.sh); sourced.
#
#   source benches/lib.sh
#   bench_prepare NAME BENCH_BINARY OWN_CLUSTER
#
# Builds the release gitseal-controller and BENCH_BINARY; with OWN_CLUSTER=1 makes a git
# worktree of HEAD under /tmp and starts its own control plane there (taken down and
# removed on exit unless BENCH_KEEP=1), else uses $GITSEAL_KUBECONFIG or this checkout's
# dev/cluster/.state; applies deploy/. Sets: root, bench, controller, state, kubectl
# (an array), bench_args (the flags every bench binary takes), and log().

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_name="bench"

log() { printf '%s: %s\n' "${bench_name}" "$*" >&2; }

bench_prepare() { # <name> <bench binary> <own cluster: 0|1>
    local binary="$2" own_cluster="$3" cluster_dir
    bench_name="$1"
    cd "${root}" || exit 1
    log "building release binaries"
    cargo build --release --quiet -p gitseal-controller -p gitseal-bench --bin gitseal-controller --bin "${binary}"
    local target="${CARGO_TARGET_DIR:-${root}/target}"
    # shellcheck disable=SC2034 # bench, controller, bench_args: for the calling script
    bench="${target}/release/${binary}"
    controller="${target}/release/gitseal-controller"

    if ((own_cluster)); then
        checkout="$(mktemp -d /tmp/gitseal-bench-XXXXXX)"
        rmdir "${checkout}"
        git -C "${root}" worktree add --detach --quiet "${checkout}" HEAD
        trap bench_cleanup EXIT
        log "starting a control plane in ${checkout}"
        GITSEAL_KUBECONFIG="$("${checkout}/dev/cluster/up" | tail -n1)"
        export GITSEAL_KUBECONFIG
        cluster_dir="${checkout}/dev/cluster"
    elif [[ -n "${GITSEAL_KUBECONFIG:-}" ]]; then
        # A kubeconfig inside some checkout's dev/cluster/.state: use that checkout's kubectl.
        cluster_dir="$(cd "$(dirname "${GITSEAL_KUBECONFIG}")/.." && pwd)"
    else
        cluster_dir="${root}/dev/cluster"
        export GITSEAL_KUBECONFIG="${cluster_dir}/.state/kubeconfig"
    fi
    state="${cluster_dir}/.state"
    [[ -f "${GITSEAL_KUBECONFIG}" ]] || {
        log "no kubeconfig at ${GITSEAL_KUBECONFIG}; start a cluster (dev/cluster/up) or pass --own-cluster"
        exit 1
    }
    if [[ -f "${state}/bin" ]]; then
        kubectl=("$(cat "${state}/bin")/kubectl" --kubeconfig="${GITSEAL_KUBECONFIG}")
    else
        kubectl=(kubectl --kubeconfig="${GITSEAL_KUBECONFIG}")
    fi
    log "applying deploy/ (CRD, namespace, ServiceAccount, RBAC; no Pod runs without a kubelet)"
    "${kubectl[@]}" apply -R -f "${root}/deploy/" >&2
    "${kubectl[@]}" wait --for condition=Established --timeout=60s crd/sealedsecrets.gitseal.dev >&2

    bench_args=(--controller "${controller}" --timeout-secs "${BENCH_TIMEOUT:-1800}")
    [[ -d "${state}/pids" ]] && bench_args+=(--cluster-state "${state}")
    [[ "${BENCH_KEEP:-0}" == 1 ]] && bench_args+=(--keep)
    log "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_cleanup() {
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        log "kept ${checkout} and its cluster: ${checkout}/dev/cluster/down; git -C ${root} worktree remove --force ${checkout}"
        return
    fi
    "${checkout}/dev/cluster/down" >&2 || true
    git -C "${root}" worktree remove --force "${checkout}" || true
}
