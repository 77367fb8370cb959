# Container image of the token-lease GitHub Action (`runs.using: docker`).
#
# Needs BuildKit (the default builder since Docker Engine 23, and what the
# Actions runner's `docker build` uses) for the `RUN --mount` cache mounts.
# The runner builds this file in every job with no cache: released versions
# of the action should point at a prebuilt, digest-pinned image instead.
#
# Base images are pinned by digest. Renovate (or Dependabot, `docker`
# ecosystem) should keep `tag@sha256:` pins current; never edit a digest by
# hand without checking it against the registry.

# ---------------------------------------------------------------------------
# Builder: static musl binaries.
#
# rust:1.92.0-alpine3.21 (multi-arch index). Digest taken from Renovate's
# commit "update rust docker tag to v1.92.0" of 2025-12-12 in
# github.com/DeveloperC286/conventional_commits_next_version (488fd0d,
# ci/compile.Dockerfile); the same digest was pinned on the same day by
# Renovate in DeveloperC286/conventional_commits_linter and
# DeveloperC286/clean_git_history. Toolchain >= 1.89 (rust-version); the
# newest rust-version among the locked crates is 1.91.
# Alpine's host target is *-unknown-linux-musl, which links statically by
# default (crt-static), on x86_64 and aarch64 alike, so no --target is passed.
FROM rust:1.92.0-alpine3.21@sha256:82e772a24cfceaea095cc3f36b7bdeab048fc4f1164e0948939ee7a3f070ddbb AS builder

# musl-dev: libc headers and crt files for ring's C/asm (gcc is in the base
# image); binutils (already pulled in by gcc) provides readelf for the check.
# DL3018 (pin apk versions) is ignored on purpose: the image digest already
# fixes the Alpine release, and Alpine keeps only the newest -rN of a package
# per branch, so a `musl-dev=1.2.5-rN` pin breaks the build at its next fix.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev binutils

# WORKDIR is set in the builder stage only; the final image keeps the
# runner's --workdir (see runner-protocol.md).
WORKDIR /build

# fake-github is a test-only workspace member: cargo reads its manifest when
# it loads the workspace and refuses a member without a target, but
# `-p token-lease --bins` never compiles it. An empty lib.rs stands in for its
# sources, which stay out of the build context (see .dockerignore) so that
# editing the fake does not invalidate this stage.
COPY Cargo.toml Cargo.lock ./
COPY fake-github/Cargo.toml fake-github/Cargo.toml
RUN mkdir -p fake-github/src && touch fake-github/src/lib.rs
COPY src/ src/

# Cache mounts keep the registry and target dir between local builds; their
# contents are not in the layer, so the binaries are copied out to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --locked --release -p token-lease --bins \
    && mkdir -p /out \
    && cp target/release/token-lease \
          target/release/token-lease-post \
          target/release/token-lease-open \
          /out/

# Fail the build unless every binary is static: no program interpreter and
# no shared-library dependency (a static-pie has a DYNAMIC segment but
# neither INTERP nor NEEDED entries). readelf's output is captured first (no
# pipe) so that a readelf failure fails the build under `set -e` instead of
# reading as "nothing found".
RUN set -eu; \
    for bin in /out/token-lease /out/token-lease-post /out/token-lease-open; do \
        headers="$(readelf -lW "$bin")"; \
        dynamic="$(readelf -dW "$bin")"; \
        case "$headers$dynamic" in \
            *INTERP*|*'(NEEDED)'*) \
                printf 'error: %s is dynamically linked\n%s\n%s\n' "$bin" "$headers" "$dynamic" >&2; \
                exit 1 ;; \
        esac; \
        echo "$bin: static, $(wc -c < "$bin") bytes"; \
    done

# ---------------------------------------------------------------------------
# Final image: distroless static, root variant (NOT :nonroot: Docker actions
# run as root and the runner's file-command files belong to the runner's
# user). It ships /etc/ssl/certs/ca-certificates.crt, which
# rustls-native-certs finds by default (SSL_CERT_FILE still overrides it),
# plus /etc/passwd, /tmp and tzdata; no shell.
#
# gcr.io/distroless/static-debian12:latest (multi-arch index). Digest taken
# from Renovate's commit 0a97966 "update gcr.io/distroless/static-debian12:latest
# docker digest to a9fcaed" of 2026-07-21 in github.com/cilium/ariane
# (Dockerfile, still the pin at its 2026-07-24 head); the same digest is
# pinned by many other public repositories.
FROM gcr.io/distroless/static-debian12:latest@sha256:a9fcaedd4c9b59e12dd65d954f0b5044f19b0647a8a3712e77205df9e7b102cd

# Override SOURCE_URL when publishing (it links a ghcr.io package to its repo).
ARG SOURCE_URL=https://github.com/OWNER/token-lease
LABEL org.opencontainers.image.title="token-lease" \
      org.opencontainers.image.description="A GitHub Action that leases a short-lived, least-privilege GitHub token to a CI job and revokes it when the job ends" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

# Fixed absolute paths: action.yml (`runs.entrypoint`, `runs.post-entrypoint`)
# and open/action.yml name them, and the runner passes them as --entrypoint.
COPY --from=builder /out/token-lease /out/token-lease-post /out/token-lease-open /usr/local/bin/

# Smoke test in the final image itself (exec form: distroless has no shell).
RUN ["/usr/local/bin/token-lease", "--version"]

# No USER and no WORKDIR (runner-protocol.md): the container runs as root in
# the runner's --workdir /github/workspace.
ENTRYPOINT ["/usr/local/bin/token-lease"]
