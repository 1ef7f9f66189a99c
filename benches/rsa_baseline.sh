#!/usr/bin/env bash
# RSA-4096 OAEP-SHA256 decryption cost on this machine, printed beside gitseal's
# criterion figure for unsealing one value (unseal/1-key), with their ratio.
#
# Product target: unsealing one value costs at least 50x less CPU than one RSA-4096
# OAEP decryption (what the incumbent pays per value). The workspace has no RSA crate,
# so the baseline is OpenSSL's, on the same machine:
#   1. `openssl speed rsa4096`: the in-process RSA-4096 private-key operation, which is
#      what an OAEP decryption costs (OAEP unpadding is a few hashes next to it). On
#      OpenSSL >= 3.2 its decrypt column is used, on older ones its sign column.
#   2. a check that `openssl pkeyutl` really decrypts RSA-4096 OAEP-SHA256, and its
#      per-process time minus that of the public-key encryption (process start-up and
#      key loading cancel out, roughly): a cross-check of (1), not the figure used.
#
# Usage: cargo bench --bench seal [-- --quick]; bash benches/rsa_baseline.sh
set -euo pipefail

cd "$(dirname "$0")/.."
estimates="${CARGO_TARGET_DIR:-target}/criterion/unseal/1-key/new/estimates.json"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

oaep=(-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/pub.pem"
head -c 32 /dev/urandom >"$tmp/plain"
openssl pkeyutl -encrypt -pubin -inkey "$tmp/pub.pem" "${oaep[@]}" -in "$tmp/plain" -out "$tmp/sealed"
openssl pkeyutl -decrypt -inkey "$tmp/key.pem" "${oaep[@]}" -in "$tmp/sealed" | cmp -s - "$tmp/plain" ||
  { echo "openssl failed to round-trip RSA-4096 OAEP-SHA256" >&2; exit 1; }

# (1) openssl speed: seconds per private-key operation.
speed="$(openssl speed -seconds 3 rsa4096 2>/dev/null | awk '/^rsa 4096 bits/ { print (NF >= 11 ? $7 : $4) }')"
rsa_us="$(awk -v s="${speed%s}" 'BEGIN { printf "%.1f", s * 1e6 }')"

# (2) per-process cross-check.
runs=20
per_run_us() {
  local start end
  start="$(date +%s%N)"
  for _ in $(seq "$runs"); do "$@" >/dev/null; done
  end="$(date +%s%N)"
  awk -v d="$((end - start))" -v n="$runs" 'BEGIN { printf "%.1f", d / n / 1e3 }'
}
dec_us="$(per_run_us openssl pkeyutl -decrypt -inkey "$tmp/key.pem" "${oaep[@]}" -in "$tmp/sealed")"
enc_us="$(per_run_us openssl pkeyutl -encrypt -pubin -inkey "$tmp/pub.pem" "${oaep[@]}" -in "$tmp/plain")"
diff_us="$(awk -v a="$dec_us" -v b="$enc_us" 'BEGIN { printf "%.1f", a - b }')"

echo "machine: $(nproc) cores, $(openssl version | cut -d' ' -f1-2)"
echo "RSA-4096 private-key op, openssl speed (in-process):          ${rsa_us} us"
echo "RSA-4096 OAEP-SHA256 decrypt, openssl pkeyutl per process:   ${dec_us} us"
echo "  minus the same process encrypting with the public key:     ${diff_us} us (cross-check)"
if [[ -f "$estimates" ]]; then
  # The first point_estimate in criterion's estimates.json is the mean, in nanoseconds.
  unseal_ns="$(grep -o '"point_estimate":[0-9.eE+-]*' "$estimates" | head -n1 | cut -d: -f2)"
  awk -v u="$unseal_ns" -v r="$rsa_us" 'BEGIN {
    printf "gitseal unseal/1-key (criterion mean):                       %.1f us\n", u / 1e3
    printf "ratio RSA-4096 OAEP decryption / gitseal unseal:             %.0fx (target: >= 50x)\n", r * 1e3 / u
  }'
else
  echo "gitseal unseal/1-key: no criterion figure at $estimates; run: cargo bench --bench seal -- --quick"
fi
