# The release's install files, written by dev/release/build. Sourced, not executed; needs
# lib.sh. Each function writes only the files it is given and fails unless the text it
# rewrites is there exactly once, so a changed deploy/ or chart cannot silently ship an
# unpinned image. Their scratch files go to .scratch/ beside their output (build removes it).
# shellcheck shell=bash

# Replaces the line ending in <from> (after indentation) by the same indentation and <to>;
# fails unless exactly one line matches.
replace_line() { # <file in> <file out> <from> <to>
    awk -v from="$3" -v to="$4" '
        { body = $0; sub(/^[ \t]*/, "", body) }
        body == from { $0 = substr($0, 1, length($0) - length(body)) to; n++ }
        { print }
        END { exit n == 1 ? 0 : 3 }' "$1" >"$2" \
        || die "$(basename "$1"): expected exactly one line '${3}'"
}

# deploy/*.yaml in file order, `---` between files, the controller image pinned by digest.
write_manifest() { # <out> <version> <pinned image>
    local out="$1" version="$2" pinned="$3" file all
    all="$(dirname "${out}")/.scratch/deploy.yaml"
    : >"${all}"
    while read -r file; do
        [[ ! -s "${all}" ]] || echo '---' >>"${all}"
        cat "${REPO_DIR}/deploy/${file}" >>"${all}"
        [[ -z "$(tail -c1 "${REPO_DIR}/deploy/${file}")" ]] || echo >>"${all}"
    done < <(git -C "${REPO_DIR}/deploy" ls-files -- '*.yaml' | LC_ALL=C sort)
    replace_line "${all}" "${out}" "image: ${IMAGE_REPOSITORY}:${version}" "image: ${pinned}"
}

# charts/gitseal's tracked files as helm package lays them out (gitseal/Chart.yaml, ...),
# values.yaml's image.digest set. Written by tar rather than `helm package`, which stamps
# every entry with the time of packaging.
write_chart() { # <out> <digest> <mtime epoch>
    local out="$1" digest="$2" epoch="$3" root file
    root="$(dirname "${out}")/.scratch/chart"
    local -a files
    mapfile -t files < <(git -C "${REPO_DIR}/charts" ls-files -- gitseal)
    (( ${#files[@]} )) || die "charts/gitseal has no tracked files"
    for file in "${files[@]}"; do
        install -D -m 0644 "${REPO_DIR}/charts/${file}" "${root}/${file}"
    done
    # The one `digest: ""` is image.digest (values.yaml's `# --` comments document it).
    replace_line "${REPO_DIR}/charts/gitseal/values.yaml" "${root}/gitseal/values.yaml" \
        'digest: ""' "digest: \"${digest}\""
    reproducible_tgz "${root}" "${epoch}" "${out}" "${files[@]}"
}

# The krew plugin: kubectl-gitseal (the static CLI, which names itself so in its usage)
# in an archive, and the manifest krew installs it from.
write_krew() { # <archive> <manifest> <cli binary> <version> <mtime epoch>
    local archive="$1" manifest="$2" cli="$3" version="$4" epoch="$5" dir
    dir="$(dirname "${archive}")/.scratch/krew"
    mkdir -p "${dir}"
    install -m 0755 "${cli}" "${dir}/kubectl-gitseal"
    local -a members=(kubectl-gitseal)
    if [[ -f "${REPO_DIR}/LICENSE" ]]; then
        install -m 0644 "${REPO_DIR}/LICENSE" "${dir}/LICENSE"
        members+=(LICENSE)
    fi
    reproducible_tgz "${dir}" "${epoch}" "${archive}" "${members[@]}"
    cat >"${manifest}" <<EOF
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: gitseal
spec:
  version: v${version}
  homepage: ${PROJECT_URL}
  shortDescription: Seal Secrets with age to keep them in Git
  description: |
    gitseal seals Kubernetes Secrets with the cluster's public age key so they can be
    committed as SealedSecrets; gitseal-controller, in the cluster, unseals them into
    Secrets. The plugin is the gitseal CLI: seal, edit, verify and inspect sealed files,
    fetch the cluster's keys, rotate, reseal, back up and retire keys.
  platforms:
    - selector:
        matchLabels:
          os: linux
          arch: amd64
      uri: ${PROJECT_URL}/releases/download/v${version}/$(basename "${archive}")
      sha256: $(sha256 "${archive}")
      bin: kubectl-gitseal
EOF
}
