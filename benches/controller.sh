#!/usr/bin/env bash
# Controller scale benchmark: for each N, the API server's own write rate (N plain
# Secrets) beside gitseal-controller's cold start with N SealedSecrets waiting, in one
# run on one API server; prints a Markdown table. See benches/README.md.
#
#   benches/controller.sh [--own-cluster] [--concurrency C] [--request-costs] [N...]
#                                                             (default N: 1000 10000)
#
# --own-cluster  make a git worktree of HEAD under /tmp, start its own control plane
#                (tests/cluster/up there: free ports, its own state), run there, and
#                take it down and remove the worktree at the end. Without it the cluster
#                is $GITSEAL_KUBECONFIG, or else this checkout's tests/cluster/.state;
#                nothing else may run a gitseal-controller there while it measures.
# --request-costs  also time single request kinds (Secret create + status apply, Secret
#                apply after create, no-op apply, status apply, Event) N times each.
#
# Environment: BENCH_TIMEOUT (seconds per waiting step, default 1800), BENCH_KEEP=1
# (keep the last size's namespaces, and the --own-cluster worktree and cluster, for
# inspection), CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
own_cluster=0
extra=()
concurrency=32
counts=()
while (($#)); do
    case "$1" in
        --own-cluster) own_cluster=1 ;;
        --request-costs) extra+=(--request-costs) ;;
        --concurrency) concurrency="$2"; shift ;;
        --concurrency=*) concurrency="${1#*=}" ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        -*) echo "controller.sh: unknown option $1" >&2; exit 2 ;;
        *) counts+=("$1") ;;
    esac
    shift
done
((${#counts[@]})) || counts=(1000 10000)

log() { printf 'controller.sh: %s\n' "$*" >&2; }

cd "${root}"
log "building release binaries"
cargo build --release --quiet -p gitseal-controller -p gitseal-e2e --bin gitseal-controller --bin controller-bench
target="${CARGO_TARGET_DIR:-${root}/target}"
bench="${target}/release/controller-bench"
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

args=(--controller "${controller}" --concurrency "${concurrency}" --timeout-secs "${BENCH_TIMEOUT:-1800}")
[[ -d "${state}/pids" ]] && args+=(--cluster-state "${state}")
[[ "${BENCH_KEEP:-0}" == 1 ]] && args+=(--keep)
for n in "${counts[@]}"; do args+=(--count "${n}"); done
args+=("${extra[@]}")
log "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"${bench}" "${args[@]}"
