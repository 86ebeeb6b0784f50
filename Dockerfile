# Multi-stage build: compile in the Rust image, run from a slim Debian with only the binary.
# No secrets or .env are baked in: configure with environment variables at `docker run`.
#
# Stages: `build` compiles; `binary` holds nothing but the compiled server at /authkit; `runtime`
# (the last stage, what `docker build .` makes) copies it from `binary`. A build context given the
# name of a stage replaces that stage (BuildKit and podman/buildah alike), and stages the target
# does not need are skipped, so an already compiled binary is packaged without compiling:
#   docker build --target runtime --build-context binary=DIR_HOLDING_authkit .
# scripts/test-container.sh builds the image that way from the test run's binary.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them. .cargo/ carries the bundled SQLite's
# build flags.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked && rm -rf src
COPY assets ./assets
COPY templates ./templates
# The browser client, which the admin console serves.
COPY clients/js/authkit.js ./clients/js/authkit.js
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Only the binary, at a fixed path: what a --build-context named `binary` must provide.
FROM scratch AS binary
COPY --from=build /src/target/release/authkit /authkit

FROM debian:bookworm-slim AS runtime
RUN groupadd --system --gid 10001 authkit \
    && useradd --system --uid 10001 --gid authkit --home-dir /app --shell /usr/sbin/nologin authkit \
    && mkdir -p /app/data /app/logs && chown -R authkit:authkit /app
COPY --from=binary /authkit /usr/local/bin/authkit
WORKDIR /app
USER authkit
# Production unless told otherwise: Secure cookies, HSTS, /metrics closed, and SECRET_KEY
# required (the server refuses to start without it, naming the variable).
ENV ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data \
    LOG_DIR=/app/logs \
    LOG_FORMAT=json
VOLUME ["/app/data", "/app/logs"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 CMD ["authkit", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["authkit"]
CMD ["serve"]
