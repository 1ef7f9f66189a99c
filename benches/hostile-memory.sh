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
#                (dev/cluster/up there: free ports, its own state), run there, and
#                take it down and remove the worktree at the end. Without it the cluster
#                is $GITSEAL_KUBECONFIG, or else this checkout's dev/cluster/.state;
#                nothing else may run a gitseal-controller there while it measures.
# --ordinary N   ordinary SealedSecrets in each phase (default 1000).
#
# Environment: BENCH_TIMEOUT (seconds per waiting step, default 1800), BENCH_KEEP=1
# (keep the hostile phase's namespaces, and the --own-cluster worktree and cluster, for
# inspection), CARGO_TARGET_DIR.
set -euo pipefail

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

# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_prepare hostile-memory.sh hostile-bench "${own_cluster}"

"${bench}" "${bench_args[@]}" --ordinary "${ordinary}" --large "${large}"
