# Shared by dev/release/build and dev/release/check. Sourced, not executed.
# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this
#
# A release's names, in one place: for workspace version V,
#
#   gitseal-V-linux-amd64                  the CLI, static
#   gitseal-controller-V-linux-amd64       the controller, static
#   gitseal-controller-V.oci.tar           its image (dev/image/build), and
#   gitseal-controller-V.oci.digest        the manifest digest index.json names
#   *.cdx.json                             an SBOM beside each of those three
#   gitseal.yaml                           deploy/ in one file, the image pinned by digest
#   gitseal-V.tgz                          charts/gitseal, the image pinned by digest
#   kubectl-gitseal-V-linux-amd64.tar.gz   the krew plugin's archive, and
#   gitseal.krew.yaml                      its krew manifest
#   SHA256SUMS                             every other file

RELEASE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "${RELEASE_DIR}/../.." && pwd)"
# The one platform this machine builds (README.md: what the others need).
RUST_TARGET=x86_64-unknown-linux-gnu
PLATFORM=linux-amd64
IMAGE_REPOSITORY=ghcr.io/gitseal/gitseal-controller
PROJECT_URL=https://github.com/gitseal/gitseal

log() { printf '%s: %s\n' "release/$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() { # <command>...
    local c
    for c in "$@"; do
        command -v "${c}" >/dev/null || die "${c} is needed (Debian: apt-get install ${c})"
    done
}

# [workspace.package] version in Cargo.toml: the version of everything released.
workspace_version() {
    local v
    v="$(awk '/^\[workspace\.package\]/ { p = 1; next } /^\[/ { p = 0 }
        p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "${REPO_DIR}/Cargo.toml")"
    [[ "${v}" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] \
        || die "no semantic version in [workspace.package] of ${REPO_DIR}/Cargo.toml: '${v}'"
    echo "${v}"
}

# Sets the file names above for version $1.
release_names() { # <version>
    local v="$1"
    CLI="gitseal-${v}-${PLATFORM}"
    CONTROLLER="gitseal-controller-${v}-${PLATFORM}"
    IMAGE="gitseal-controller-${v}.oci.tar"
    IMAGE_DIGEST="gitseal-controller-${v}.oci.digest"
    CLI_SBOM="${CLI}.cdx.json"
    CONTROLLER_SBOM="${CONTROLLER}.cdx.json"
    IMAGE_SBOM="gitseal-controller-${v}.oci.cdx.json"
    MANIFEST=gitseal.yaml
    CHART="gitseal-${v}.tgz"
    KREW_ARCHIVE="kubectl-gitseal-${v}-${PLATFORM}.tar.gz"
    KREW_MANIFEST=gitseal.krew.yaml
}

# A top-level `key: value` of a YAML file such as Chart.yaml, quotes removed.
yaml_top() { # <file> <key>
    awk -v k="$2:" 'substr($0, 1, length(k)) == k { v = $2; gsub(/^["'\'']|["'\'']$/, "", v); print v; exit }' "$1"
}

# Whether an ELF executable is statically linked: `file` says so (static-pie included)
# and the loader has nothing to load.
is_static() { # <executable>
    local kind libs
    kind="$(LC_ALL=C file -b "$1")"
    [[ "${kind}" == ELF* && ( "${kind}" == *"statically linked"* || "${kind}" == *"static-pie linked"* ) ]] || return 1
    libs="$(LC_ALL=C ldd "$1" 2>&1 || true)"
    [[ "${libs}" != *"=>"* ]]
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# A tar.gz that depends only on the files' bytes and the given modes: names sorted, one
# mtime, owner 0, ustar headers, gzip without name or time.
reproducible_tgz() { # <dir> <mtime epoch> <out> <member>...
    local dir="$1" mtime="$2" out="$3"
    shift 3
    printf '%s\n' "$@" | LC_ALL=C sort | tar -C "${dir}" --format=ustar --no-recursion --verbatim-files-from \
        --mtime="@${mtime}" --owner=0 --group=0 --numeric-owner -cf - -T - | gzip -n -9 >"${out}"
}
