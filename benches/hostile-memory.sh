#!/usr/bin/env bash
# Hostile-set memory benchmark: gitseal-controller's cold start with 1,000 ordinary
# SealedSecrets (baseline), then with N_LARGE of the largest SealedSecrets the API server
# stores (legitimate 1 MiB values, stanza floods, values sealed to 63 keys up to the
# key-trial budget, random garbage) beside the same 1,000 ordinary ones, in one run on one
# API server; prints a Markdown table of time, peak RSS, CPU and the slowest /healthz
# answer. See benches/README.md.
#
#   benches/hostile-memory.sh [--own-cluster] [--ordinary N] [N_LARGE]   (default N_LARGE: 100)
#
# --own-cluster  make a git worktree of HEAD under /tmp, start its own control plane
#                (tests/cluster/up there: free ports, its own state), run there, and
#                take it down and remove the worktree at the end. Without it the cluster
#                is $GITSEAL_KUBECONFIG, or else this checkout's tests/cluster/.state;
#                nothing else may run a gitseal-controller there while it measures.
# --ordinary N   ordinary SealedSecrets in each phase (default 1000).
#
# Environment: BENCH_TIMEOUT (seconds per waiting step, default 1800), BENCH_KEEP=1
# (keep the hostile phase's namespaces, and the --own-cluster worktree and cluster, for
# inspection), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
own_cluster=0
ordinary=1000
large=100
while (($#)); do
    case "$1" in
        --own-cluster) own_cluster=1 ;;
        --ordinary) ordinary="$2"; shift ;;
        --ordinary=*) ordinary="${1#*=}" ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "hostile-memory.sh: unknown option $1" >&2; exit 2 ;;
        *) large="$1" ;;
    esac
    shift
done

log() { printf 'hostile-memory.sh: %s\n' "$*" >&2; }

cd "${root}"
log "building release binaries"
cargo build --release --quiet -p gitseal-controller -p gitseal-e2e --bin gitseal-controller --bin hostile-bench
target="${CARGO_TARGET_DIR:-${root}/target}"
bench="${target}/release/hostile-bench"
controller="${target}/release/gitseal-controller"

if ((own_cluster)); then
    checkout="$(mktemp -d /tmp/gitseal-bench-XXXXXX)"
    rmdir "${checkout}"
    git -C "${root}" worktree add --detach --quiet "${checkout}" HEAD
    cleanup() {
        if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
            log "kept ${checkout} and its cluster: ${checkout}/tests/cluster/down; git -C ${root} worktree remove --force ${checkout}"
            return
        fi
        "${checkout}/tests/cluster/down" >&2 || true
        git -C "${root}" worktree remove --force "${checkout}" || true
    }
    trap cleanup EXIT
    log "starting a control plane in ${checkout}"
    GITSEAL_KUBECONFIG="$("${checkout}/tests/cluster/up" | tail -n1)"
    export GITSEAL_KUBECONFIG
    cluster_dir="${checkout}/tests/cluster"
elif [[ -n "${GITSEAL_KUBECONFIG:-}" ]]; then
    # A kubeconfig inside some checkout's tests/cluster/.state: use that checkout's kubectl.
    cluster_dir="$(cd "$(dirname "${GITSEAL_KUBECONFIG}")/.." && pwd)"
else
    cluster_dir="${root}/tests/cluster"
    export GITSEAL_KUBECONFIG="${cluster_dir}/.state/kubeconfig"
fi
state="${cluster_dir}/.state"
[[ -f "${GITSEAL_KUBECONFIG}" ]] || { log "no kubeconfig at ${GITSEAL_KUBECONFIG}; start a cluster (tests/cluster/up) or pass --own-cluster"; exit 1; }

if [[ -f "${state}/bin" ]]; then
    kubectl=("$(cat "${state}/bin")/kubectl" --kubeconfig="${GITSEAL_KUBECONFIG}")
else
    kubectl=(kubectl --kubeconfig="${GITSEAL_KUBECONFIG}")
fi
log "applying deploy/ (CRD, namespace, ServiceAccount, RBAC; no Pod runs without a kubelet)"
"${kubectl[@]}" apply -R -f "${root}/deploy/" >&2
"${kubectl[@]}" wait --for condition=Established --timeout=60s crd/sealedsecrets.gitseal.dev >&2

args=(--controller "${controller}" --ordinary "${ordinary}" --large "${large}" --timeout-secs "${BENCH_TIMEOUT:-1800}")
[[ -d "${state}/pids" ]] && args+=(--cluster-state "${state}")
[[ "${BENCH_KEEP:-0}" == 1 ]] && args+=(--keep)
log "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"${bench}" "${args[@]}"
