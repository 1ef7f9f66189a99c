# The release's SBOMs (CycloneDX 1.5 JSON), written by dev/release/build. Sourced, not
# executed; needs lib.sh.
# shellcheck shell=bash disable=SC2153 # CLI, IMAGE, ...: release_names (lib.sh) sets them
#
#   cargo-cyclonedx (the workspace, features unified) ──▶ per package, kept to what
#   `cargo tree -p <package>` resolves for it alone ──▶ paths, serial ──▶ CLI, controller
#                            controller's + the image's digest and files ──▶ image
#
# cargo-cyclonedx reads `cargo metadata`, which unifies features over the workspace: it
# would list rsa for the controller, which is built alone and never links it. Each SBOM
# keeps the components (and dependency edges) cargo resolves for its package alone, as
# that package's own `cargo build` does. Reproducible: SOURCE_DATE_EPOCH gives the
# timestamp (and makes the tool leave out its random serial number), the checkout's path
# in bom-refs becomes /gitseal as in the binaries, and the serial number is derived from
# the document.

SBOM_SCRATCH="release-sbom-$$" # the file name cargo-cyclonedx writes in each package dir

# Removes what cargo-cyclonedx wrote into the checkout (one file per workspace package).
remove_sbom_leftovers() {
    local manifest
    while read -r manifest; do
        rm -f "$(dirname "${manifest}")/${SBOM_SCRATCH}.json"
    done < <(cd "${REPO_DIR}" && cargo metadata --locked --no-deps --format-version 1 2>/dev/null \
        | jq -r '.packages[].manifest_path')
}

# name@version of every package <package> is built from, for the release target.
resolved_for() { # <package>
    (cd "${REPO_DIR}" && cargo tree --locked -p "$1" --target "${RUST_TARGET}" -e normal,build \
        --prefix none --format '{p}') | awk '{ sub(/^v/, "", $2); print $1 "@" $2 }' | LC_ALL=C sort -u
}

# The tool's SBOM of one package, kept to <resolved> (a file of name@version lines).
kept_to() { # <sbom> <resolved>
    jq --rawfile resolved "$2" --arg repo "${REPO_DIR}" '
        ($resolved | split("\n") | map(select(. != "") | {(.): true}) | add) as $in
        | .components |= map(select($in["\(.name)@\(.version)"]))
        | ([.metadata.component, .components[]] | map({(.["bom-ref"]): true}) | add) as $refs
        | .dependencies |= map(select($refs[.ref]) | if .dependsOn then .dependsOn |= map(select($refs[.])) else . end)
        | walk(if type == "string" and startswith("path+file://" + $repo)
            then "path+file:///gitseal" + ltrimstr("path+file://" + $repo) else . end)' "$1"
}

# The document with serialNumber set to a UUID (version 8: RFC 9562's custom layout)
# made from the sha256 of its own canonical form, placed after specVersion.
with_serial() { # <sbom>
    local h variant
    h="$(jq -cS 'del(.serialNumber)' "$1" | sha256sum | cut -c1-32)"
    variant="$(printf '%x' $(( (0x${h:16:1} & 3) | 8 )))"
    jq --arg s "urn:uuid:${h:0:8}-${h:8:4}-8${h:13:3}-${variant}${h:17:3}-${h:20:12}" \
        '{bomFormat, specVersion, serialNumber: $s} + del(.serialNumber)' "$1"
}

# The image: its manifest digest on top; inside, the controller binary (its crates as in
# the controller's SBOM) and /etc/passwd and /etc/group, each with the sha256 of the
# bytes in the layer.
image_sbom() { # <controller sbom> <image archive> <version> <digest> <scratch dir>
    local controller="$1" image="$2" version="$3" digest="$4" work="$5" layer
    layer="$(tar -xOf "${image}" "blobs/sha256/${digest#sha256:}" | jq -r '.layers[0].digest')"
    mkdir -p "${work}/layer"
    tar -xOf "${image}" "blobs/sha256/${layer#sha256:}" | tar -xzf - -C "${work}/layer"
    jq --arg name "${IMAGE_REPOSITORY}" --arg version "${version}" --arg digest "${digest#sha256:}" \
        --arg binary "$(sha256 "${work}/layer/gitseal-controller")" \
        --arg passwd "$(sha256 "${work}/layer/etc/passwd")" --arg group "$(sha256 "${work}/layer/etc/group")" '
        def file($path; $sha): {type: "file", "bom-ref": "image:\($path)", name: $path,
            hashes: [{alg: "SHA-256", content: $sha}]};
        .metadata.component as $controller
        | {bomFormat, specVersion, version,
            metadata: (.metadata | .component = {type: "container", "bom-ref": "image", name: $name,
                version: $version, hashes: [{alg: "SHA-256", content: $digest}],
                purl: "pkg:oci/\($name | split("/") | last)@sha256%3A\($digest)?repository_url=\($name)&tag=\($version)"}),
            components: ([$controller + {hashes: [{alg: "SHA-256", content: $binary}],
                    properties: [{name: "gitseal:image:path", value: "/gitseal-controller"}]}]
                + .components + [file("/etc/passwd"; $passwd), file("/etc/group"; $group)]),
            dependencies: ([{ref: "image", dependsOn: [$controller["bom-ref"], "image:/etc/passwd", "image:/etc/group"]}]
                + .dependencies)}' "${controller}"
}

# Writes CLI_SBOM, CONTROLLER_SBOM and IMAGE_SBOM into <dir>.
write_sboms() { # <dir> <version> <digest> <mtime epoch>
    local dir="$1" version="$2" digest="$3" epoch="$4" tool work="$1/.scratch/sbom" package member file
    tool="$("${REPO_DIR}/dev/tools/cargo-cyclonedx/build" | tail -n1)/cargo-cyclonedx"
    mkdir -p "${work}"
    (cd "${REPO_DIR}" && SOURCE_DATE_EPOCH="${epoch}" "${tool}" cyclonedx --quiet --format json \
        --spec-version 1.5 --target "${RUST_TARGET}" --override-filename "${SBOM_SCRATCH}") >&2
    for member in cli:gitseal-cli:"${CLI_SBOM}" controller:gitseal-controller:"${CONTROLLER_SBOM}"; do
        IFS=: read -r member package file <<<"${member}"
        resolved_for "${package}" >"${work}/${package}.resolved"
        kept_to "${REPO_DIR}/${member}/${SBOM_SCRATCH}.json" "${work}/${package}.resolved" >"${work}/${package}.json"
        with_serial "${work}/${package}.json" >"${dir}/${file}"
    done
    remove_sbom_leftovers
    image_sbom "${work}/gitseal-controller.json" "${dir}/${IMAGE}" "${version}" "${digest}" "${work}" >"${work}/image.json"
    cmp -s "${work}/layer/gitseal-controller" "${dir}/${CONTROLLER}" || die "${IMAGE} does not hold ${CONTROLLER}"
    with_serial "${work}/image.json" >"${dir}/${IMAGE_SBOM}"
}
