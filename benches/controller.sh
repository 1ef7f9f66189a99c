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

# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_prepare controller.sh controller-bench "${own_cluster}"

args=("${bench_args[@]}" --concurrency "${concurrency}")
for n in "${counts[@]}"; do args+=(--count "${n}"); done
args+=("${extra[@]}")
"${bench}" "${args[@]}"
