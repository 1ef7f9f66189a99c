# Shared by build, up, down and pin. Sourced, not executed.
# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${CLUSTER_DIR}/.state"

# The wrapper modules are the single source of truth for the versions: a bump is
# `tests/cluster/pin <k8s> <etcd>`, which rewrites their go.mod/go.sum.
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
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl)

binaries_present() { # <bin dir>
    local b
    for b in "${BINARIES[@]}"; do
        [[ -x "$1/${b}" ]] || return 1
    done
}

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
