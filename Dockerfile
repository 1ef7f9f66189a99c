# syntax=docker/dockerfile:1
#
# gitseal-controller image, for those who build with a container engine:
#
#   docker build -t ghcr.io/gitseal/gitseal-controller:0.2.0 .
#
# The same image as dev/image/build writes without an engine (the one that tests/run and
# the node tier run): its build stage runs that script with --rootfs, so the file list
# (the binary, the libraries it loads, /etc/passwd with nonroot 65532, an empty /tmp) is
# defined once, there; dev/image/check fails when the lines below differ from that
# script's config. TLS is rustls on ring, and in the cluster the API server's CA comes
# from the service-account volume: the image needs no CA bundle. Pin the base image by
# digest when publishing releases.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; the binary is copied out of
# the cached target/ in the same step because cache mounts are not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gitseal-controller \
    && cp target/release/gitseal-controller /gitseal-controller
RUN dev/image/build --binary /gitseal-controller --rootfs /rootfs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8080/tcp
ENTRYPOINT ["/gitseal-controller"]
