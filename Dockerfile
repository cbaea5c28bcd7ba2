# Multi-stage build: compile in the official Rust image, ship only the binary on
# distroless (glibc, CA certificates, no shell), running as an unprivileged user.
# No configuration or credentials are baked in: mount config.yaml and pass
# CDS_ACCESS_KEY_ID / CDS_ACCESS_KEY_SECRET at run time.

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
