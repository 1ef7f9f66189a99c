# Shared by build, pause and check. Sourced, not executed.
# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this
#
# The one OCI writer: a root filesystem directory goes in, an OCI image layout
# (https://github.com/opencontainers/image-spec/blob/main/image-layout.md) packed as a tar
# archive comes out, byte for byte the same for the same files:
#
#   rootfs/ ──tar──> layer.tar ──gzip -n──> blobs/sha256/<layer>
#                       │ sha256 = diff_id
#                       v
#             config (user, entrypoint, ports, diff_ids) ──> blobs/sha256/<config>
#             manifest (config + layer descriptors)      ──> blobs/sha256/<manifest>
#             index.json (manifest + its name), oci-layout ──tar──> <out>.oci.tar
#
# JSON is written with printf, compact and with keys in a fixed order, so no jq is needed
# and the digests do not depend on a formatter. Every string that goes into it is checked
# against a pattern first, so nothing needs escaping.

IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "${IMAGE_DIR}/../.." && pwd)"
# The controller image's config, as dev/image/build writes it and the Dockerfile states it
# (dev/image/check compares them).
IMAGE_USER=65532:65532
IMAGE_ENTRYPOINT=/gitseal-controller
IMAGE_PORT=8080/tcp
CACHE_ROOT="${GITSEAL_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/gitseal}"

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# GNU tar with everything that varies between machines and runs pinned: order, times,
# owners, and the pax header names (which otherwise carry the PID).
reproducible_tar() { # <dir> <out> <member>...
    local dir="$1" out="$2"
    shift 2
    tar -C "${dir}" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -cf "${out}" -- "$@"
}

# The top-level names of a directory, sorted bytewise (tar --sort=name sorts only below).
members() { # <dir>
    find "$1" -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# A name like ghcr.io/gitseal/gitseal-controller:0.2.0: lower-case repository, a tag.
valid_ref() { # <ref>
    [[ "$1" =~ ^[a-z0-9]([a-z0-9._/-]|:[0-9]+/)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
}

# The shared libraries a dynamic executable loads, as absolute paths, the program
# interpreter included; nothing for a static one. Paths are the ones the loader asks for
# (they may be symlinks on the host; the caller copies what they point to).
needed_libs() { # <executable>
    local out
    if ! out="$(LC_ALL=C ldd "$1" 2>&1)"; then
        [[ "${out}" == *"not a dynamic executable"* ]] && return 0
        die "ldd $1: ${out}"
    fi
    [[ "${out}" == *"statically linked"* ]] && return 0
    [[ "${out}" != *"not found"* ]] || die "ldd $1: a library is missing: ${out}"
    awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"${out}"
}

# Moves a file to <blob dir>/<its sha256>; sets BLOB_DIGEST and BLOB_SIZE (globals, not
# output, so that a failure stops the script under set -e).
add_blob() { # <blob dir> <file>
    BLOB_DIGEST="$(sha256 "$2")"
    BLOB_SIZE="$(stat -c %s "$2")"
    mv "$2" "$1/${BLOB_DIGEST}"
}

# Packs <rootfs> as a one-layer image named <ref> into <out>; prints the manifest digest.
# <ports> is a space-separated list like "8080/tcp", possibly empty. <scratch> must not
# exist yet; the caller removes it (its own temp dir, cleaned on exit).
oci_archive() { # <rootfs> <out> <ref> <user> <entrypoint> <ports> <scratch>
    local rootfs="$1" out="$2" ref="$3" user="$4" entrypoint="$5" ports="$6" work="$7"
    valid_ref "${ref}" || die "not an image name with a tag: ${ref}"
    [[ "${user}" =~ ^[0-9]+(:[0-9]+)?$ ]] || die "user must be numeric uid[:gid]: ${user}"
    [[ "${entrypoint}" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "entrypoint must be an absolute path: ${entrypoint}"

    local blobs
    blobs="${work}/layout/blobs/sha256"
    mkdir -p "${blobs}"

    # gzip, not an uncompressed layer: the layer is mostly a binary that gzip halves, and
    # every client and registry takes tar+gzip. gzip -n leaves out name and time, so the
    # same tar gives the same bytes (for one gzip; its output has not changed in decades).
    local -a top
    mapfile -t top < <(members "${rootfs}")
    reproducible_tar "${rootfs}" "${work}/layer.tar" "${top[@]}"
    local diff_id layer layer_size config config_size manifest manifest_size
    diff_id="$(sha256 "${work}/layer.tar")"
    gzip -n -9 "${work}/layer.tar"
    add_blob "${blobs}" "${work}/layer.tar.gz"
    layer="${BLOB_DIGEST}" layer_size="${BLOB_SIZE}"

    local exposed="" p
    for p in ${ports}; do
        [[ "${p}" =~ ^[0-9]+/(tcp|udp)$ ]] || die "port must look like 8080/tcp: ${p}"
        exposed+="${exposed:+,}\"${p}\":{}"
    done
    {
        printf '{"architecture":"amd64","config":{"User":"%s",' "${user}"
        [[ -z "${exposed}" ]] || printf '"ExposedPorts":{%s},' "${exposed}"
        printf '"Entrypoint":["%s"],"WorkingDir":"/"},' "${entrypoint}"
        printf '"created":"1970-01-01T00:00:00Z","os":"linux",'
        printf '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "${diff_id}"
    } >"${work}/config.json"
    add_blob "${blobs}" "${work}/config.json"
    config="${BLOB_DIGEST}" config_size="${BLOB_SIZE}"

    {
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        printf '"digest":"sha256:%s","size":%s},' "${config}" "${config_size}"
        printf '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'
        printf '"digest":"sha256:%s","size":%s}]}' "${layer}" "${layer_size}"
    } >"${work}/manifest.json"
    add_blob "${blobs}" "${work}/manifest.json"
    manifest="${BLOB_DIGEST}" manifest_size="${BLOB_SIZE}"

    # Two names: containerd's import takes io.containerd.image.name as the full name;
    # podman, skopeo and the spec read ref.name (the tag) against a name given on load.
    {
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
        printf '"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        printf '"digest":"sha256:%s","size":%s,' "${manifest}" "${manifest_size}"
        printf '"platform":{"architecture":"amd64","os":"linux"},'
        printf '"annotations":{"io.containerd.image.name":"%s",' "${ref}"
        printf '"org.opencontainers.image.ref.name":"%s"}}]}' "${ref##*:}"
    } >"${work}/layout/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' >"${work}/layout/oci-layout"

    chmod -R u=rwX,go=rX "${work}/layout"
    mkdir -p "$(dirname "${out}")"
    reproducible_tar "${work}/layout" "${out}.partial" blobs index.json oci-layout
    mv "${out}.partial" "${out}"
    printf 'sha256:%s\n' "${manifest}"
}
