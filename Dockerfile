# MoEServe container image.
#   docker build -t moeserve .
#   docker run --rm -p 8080:8080 -v "$PWD/models:/models:ro" moeserve
# The model is read from the /models volume (scripts/setup puts the default one in ./models).

# ---- build: the official Swift toolchain image ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not refetch them.
COPY Package.swift ./
RUN mkdir -p Sources Tests && swift package resolve
COPY Sources ./Sources
COPY config ./config
RUN swift build -c release --product moeserve --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/moeserve" /out/moeserve

# ---- runtime: slim Debian with only the shared libraries the binary needs ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 zlib1g ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /srv moeserve
COPY --from=build /out/moeserve /usr/local/bin/moeserve
COPY config/moeserve.yaml /etc/moeserve/moeserve.yaml
USER moeserve
WORKDIR /srv
ENV MOESERVE_HOST=0.0.0.0 \
    MOESERVE_PORT=8080 \
    MOESERVE_MODEL=/models/SmolLM2-135M-Instruct.Q4_1.gguf
EXPOSE 8080
VOLUME ["/models"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/moeserve", "serve", "--config", "/etc/moeserve/moeserve.yaml"]
