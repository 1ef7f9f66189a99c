# syntax=docker/dockerfile:1
#
# gitseal-controller image: one static binary on distroless/static, running as 65532.
#
#   docker build -t ghcr.io/gitseal/gitseal-controller:0.1.0 .
#
# Not built in this repository's dev sandbox or CI: there is no Docker engine there.
# There, image/build makes an equivalent image without any engine (glibc binary plus the
# libraries it loads, same user, entrypoint and port) as an OCI archive; see image/README.md.
#
# Why rust:alpine: Alpine's native Rust target is *-unknown-linux-musl, which links the C
# runtime statically by default, so the binary needs no libc in the final stage and the
# same file builds amd64 and arm64 without a cross toolchain. Do not add
# RUSTFLAGS="-C target-feature=+crt-static": on a musl host it breaks proc-macro crates,
# and static is already the default. TLS is rustls on ring (kube's default), which needs
# only a C compiler; in the cluster the API server's CA comes from the mounted
# service-account volume, so the image needs no CA bundle.
# Pin both base images by digest when publishing releases.

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; the binary is copied out of
# the cached target/ in the same step because cache mounts are not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gitseal-controller \
    && cp target/release/gitseal-controller /gitseal-controller

# distroless/static: no shell, no package manager, no libc; a passwd entry for 65532
# (nonroot) and nothing else we would not use.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /gitseal-controller /gitseal-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gitseal-controller"]
