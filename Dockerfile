# Multi-stage build: compile in the official Rust image, ship only the binary on
# distroless (glibc, CA certificates, no shell), running as an unprivileged user.
# No configuration or credentials are baked in: mount config.yaml and pass
# CDS_ACCESS_KEY_ID / CDS_ACCESS_KEY_SECRET at run time.
#
# Two images: the default (the last stage, `docker build .`) stays small and has no
# redis-server; `docker build --target drill .` adds Debian's redis-server for restore
# drills (`drill:` in config.yaml, `check --drill`). Same binary, user and entrypoint.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
ARG BUILD_REVISION=unknown
ENV BUILD_REVISION=${BUILD_REVISION}
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/cds-redis-backup-exporter /cds-redis-backup-exporter \
    && mkdir /state

# Restore drills: Debian bookworm's redis-server (the distroless image has the same
# glibc), the same unprivileged user id as distroless's "nonroot" so the Kubernetes
# securityContext (runAsUser 65532) and volume ownership fit both images.
FROM debian:bookworm-slim AS drill
# redis-server pinned to bookworm's 7.0 (its point releases are security fixes); the CA
# certificates deliberately not: the newest trust store is the right one.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates redis-server=5:7.0.15-1~deb12u* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=build /cds-redis-backup-exporter /usr/local/bin/cds-redis-backup-exporter
COPY --from=build --chown=65532:65532 /state /var/lib/cds-redis-backup-exporter
# drill.scratch_dir in the drills overlay (an emptyDir there; an anonymous volume here).
COPY --from=build --chown=65532:65532 /state /var/cache/cds-redis-backup-exporter/drills
USER 65532:65532
EXPOSE 9755
VOLUME ["/etc/cds-redis-backup-exporter"]
ENTRYPOINT ["/usr/local/bin/cds-redis-backup-exporter"]
CMD ["--config.file=/etc/cds-redis-backup-exporter/config.yaml", "--web.listen-address=0.0.0.0:9755"]

# The default image: no shell, no redis-server.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /cds-redis-backup-exporter /usr/local/bin/cds-redis-backup-exporter
# Where verify.state_file goes, owned by the user below: a named volume mounted here
# starts as a copy of it, so the exporter can write there (distroless has no shell).
COPY --from=build --chown=65532:65532 /state /var/lib/cds-redis-backup-exporter
# 65532 is distroless's "nonroot" user.
USER 65532:65532
EXPOSE 9755
VOLUME ["/etc/cds-redis-backup-exporter"]
ENTRYPOINT ["/usr/local/bin/cds-redis-backup-exporter"]
CMD ["--config.file=/etc/cds-redis-backup-exporter/config.yaml", "--web.listen-address=0.0.0.0:9755"]
