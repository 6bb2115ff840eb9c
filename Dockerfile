# MoEServe container image. Every step lives in scripts/container/build-steps, which scripts/test also
# runs (without Docker), so this recipe is exercised on each test run.
#   docker build -t moeserve .
#   docker run --rm -p 8080:8080 -v "$PWD/models:/models:ro" moeserve
# The model is read from the /models volume (scripts/setup puts the default one in ./models).

# ---- build: the official Swift toolchain image (Debian 12, like the runtime) ----
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY scripts/container/build-steps ./scripts/container/build-steps
RUN scripts/container/build-steps build-deps
# Dependencies first, so source edits do not refetch them.
COPY Package.swift ./
RUN mkdir -p Sources Tests && swift package resolve
COPY Sources ./Sources
RUN scripts/container/build-steps build /out \
    && scripts/container/build-steps check-runtime /out/moeserve

# ---- runtime: slim Debian with only the shared libraries the binary needs (libssl, zlib) ----
FROM debian:bookworm-slim
COPY scripts/container/build-steps /usr/local/lib/moeserve/build-steps
RUN /usr/local/lib/moeserve/build-steps runtime-deps
COPY --from=build /out/moeserve /usr/local/bin/moeserve
COPY config/moeserve.yaml /etc/moeserve/moeserve.yaml
USER 10001:10001
WORKDIR /srv
ENV MOESERVE_HOST=0.0.0.0 \
    MOESERVE_PORT=8080 \
    MOESERVE_MODEL=/models/SmolLM2-135M-Instruct.Q4_1.gguf \
    MOESERVE_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/models"]
# /health: 503 while loading or draining, 200 when serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
# SIGTERM (docker stop, Kubernetes) drains: see --shutdown-timeout. Give `docker stop -t` more than it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/moeserve", "serve", "--config", "/etc/moeserve/moeserve.yaml"]
