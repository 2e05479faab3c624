# proofbook-server on Debian bookworm. Not built or run on the development machines (they
# have no Docker engine); kept consistent with proofbook.sh's package list by hand.
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libpqxx-dev libsimdjson-dev libssl-dev \
      libsodium-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev \
      libspdlog-dev libfmt-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake --preset release && cmake --build --preset release --target proofbook-server

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libboost-json1.81.0 libpqxx-6.4 libssl3 libsodium23 libjemalloc2 libspdlog1.10 libfmt9 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/server/proofbook-server /usr/local/bin/proofbook-server
USER nobody
EXPOSE 8080
ENTRYPOINT ["proofbook-server"]
CMD ["serve"]
