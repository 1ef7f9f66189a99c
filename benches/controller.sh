#!/usr/bin/env bash
# Controller scale benchmark: for each N, the API server's own write rate (N plain
# Secrets) beside gitseal-controller's cold start with N SealedSecrets waiting, and with
# --incumbent the incumbent's controller (bitnami sealed-secrets) alike, in one run on one
# API server; prints Markdown tables. See benches/README.md.
#
#   benches/controller.sh [--own-cluster] [--concurrency C] [--request-costs]
#                         [--incumbent [--incumbent-default-count M] [--cli-runs R]] [N...]
#                                                             (default N: 1000 10000)
#
# --own-cluster  make a git worktree of HEAD under /tmp, start its own control plane
#                (dev/cluster/up there: free ports, its own state), run there, and
#                take it down and remove the worktree at the end. Without it the cluster
#                is $GITSEAL_KUBECONFIG, or else this checkout's dev/cluster/.state;
#                nothing else may run a gitseal-controller there while it measures.
# --request-costs  also time single request kinds (Secret create + status apply, Secret
#                apply after create, no-op apply, status apply, Event) N times each.
# --incumbent    also cold-start the incumbent's controller at each N with client
#                throttling off, and once at its default flags with M objects (default
#                200, extrapolated); time `kubeseal --cert` against `gitseal seal` on a
#                ten-key Secret R times each (default 25); then fill benches/RESULTS.md's
#                generated section and write benches/cold-start.svg. Needs Go
#                (dev/tools/incumbent/build, about 1 1/2 minutes the first time).
#
# Environment: BENCH_TIMEOUT (seconds per waiting step, default 1800), BENCH_KEEP=1
# (keep the last size's namespaces, and the --own-cluster worktree and cluster, for
# inspection), CARGO_TARGET_DIR.
set -euo pipefail

invocation="benches/controller.sh $*"
own_cluster=0
incumbent=0
extra=()
concurrency=32
counts=()
while (($#)); do
    case "$1" in
        --own-cluster) own_cluster=1 ;;
        --request-costs) extra+=(--request-costs) ;;
        --incumbent) incumbent=1 ;;
        --incumbent-default-count | --cli-runs) extra+=("$1" "$2"); shift ;;
        --concurrency) concurrency="$2"; shift ;;
        --concurrency=*) concurrency="${1#*=}" ;;
        -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
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
if ((incumbent)); then
    log "building the release gitseal CLI, for the command-line comparison"
    cargo build --release --quiet -p gitseal-cli --bin gitseal
    target="${CARGO_TARGET_DIR:-${root}/target}"
    args+=(--incumbent --gitseal-cli "${target}/release/gitseal" --invocation "${invocation}"
        --report "${root}/benches/RESULTS.md" --chart "${root}/benches/cold-start.svg")
fi
"${bench}" "${args[@]}"
