# proofbook in containers (README, "Containers"). Stages:
#   build      compiles proofbook-server, proofbook and proofbook-prover (release preset)
#   node-deps  npm ci of the verifiers' lock file (mcl-wasm, snarkjs, circomlib, circom2)
#   runtime    (the default, also named `server`) the three programs, Node.js, the verifiers and their packages, the
#              container scripts; runs as the non-root user `proofbook`; HEALTHCHECK on /healthz
#   demo       runtime + python3 and clients/demo.sh (docker-compose.yml's `demo` profile)
#   postgres   PostgreSQL 15 from Debian with a small entrypoint (data in /var/lib/postgresql/data)
# Every stage starts from BASE_IMAGE: Docker Hub's debian:bookworm by default;
# tests/container/run.sh builds a local one with mmdebstrap (no registry there).
#
#   docker build -t proofbook .                        # the runtime image
#   docker build --build-arg BUILD_JOBS=8 -t proofbook .
#
# Migrations are compiled into proofbook-server (server/db): `proofbook-server migrate` applies
# them. The programs are built in /opt/proofbook and the verifiers and node_modules installed at
# the same paths, so the source-tree defaults (PROOFBOOK_SOURCE_ROOT) hold inside the image; the
# environment below names them all the same.
ARG BASE_IMAGE=debian:bookworm

FROM ${BASE_IMAGE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libpqxx-dev libsimdjson-dev libssl-dev \
      libsodium-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev \
      libspdlog-dev libfmt-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/proofbook
# Only what the build reads (CMake configures tests/ and loadtest/ too), so that editing the
# README or a script does not rebuild the C++.
COPY CMakeLists.txt CMakePresets.json ./
COPY matching matching
COPY migrations migrations
COPY server server
COPY clients clients
COPY tests tests
COPY loadtest loadtest
# Compile jobs: low by default, as on a shared 2-core machine.
ARG BUILD_JOBS=2
RUN cmake --preset release >/dev/null \
    && cmake --build --preset release -j "${BUILD_JOBS}" \
         --target proofbook-server proofbook proofbook-prover \
    && strip --strip-debug build/release/server/proofbook-server \
         build/release/clients/proofbook build/release/clients/proofbook-prover

FROM ${BASE_IMAGE} AS node-deps
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# As ./proofbook.sh install_node_deps: npm ci of the pinned lock file into var/node.
COPY server/prover/verifiers/package.json server/prover/verifiers/package-lock.json \
     /opt/proofbook/var/node/
# NPM_CAFILE: a CA bundle (a path inside the build) npm should trust, for machines whose HTTPS
# goes through an inspecting proxy: tests/container/run.sh mounts the host's bundle with
# `podman build -v` and names it here. Empty: the image's own CAs.
ARG NPM_CAFILE=
RUN npm ci --prefix /opt/proofbook/var/node --no-audit --no-fund --loglevel=error \
      ${NPM_CAFILE:+--cafile "$NPM_CAFILE"} \
    && rm -rf /root/.npm

FROM ${BASE_IMAGE} AS postgres
# No cluster from the package: the entrypoint makes one in the volume on first start.
RUN mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY container/postgres-entrypoint /usr/local/bin/
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
USER postgres
EXPOSE 5432
# SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --timeout=3s --retries=30 CMD ["pg_isready", "-h", "127.0.0.1", "-q"]
ENTRYPOINT ["postgres-entrypoint"]

FROM ${BASE_IMAGE} AS runtime
# Runtime libraries of the three programs (ldd), Node.js for the verifier workers and the
# prover's snarkjs, and pg_isready-free health checks (node does the HTTP).
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libboost-json1.81.0 libpqxx-6.4 libsimdjson14 libssl3 libsodium23 libjemalloc2 \
      libspdlog1.10 libfmt9 nodejs ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/proofbook \
         --shell /usr/sbin/nologin proofbook \
    && mkdir -p /var/lib/proofbook && chown proofbook:proofbook /var/lib/proofbook
COPY --from=build /opt/proofbook/build/release/server/proofbook-server \
     /opt/proofbook/build/release/clients/proofbook \
     /opt/proofbook/build/release/clients/proofbook-prover /usr/local/bin/
COPY --from=node-deps /opt/proofbook/var/node /opt/proofbook/var/node
COPY server/prover/verifiers /opt/proofbook/server/prover/verifiers
# The demo prover makes its Groth16 circuit with the fixtures script (circom2 + snarkjs).
COPY tests/fixtures/groth16.sh /opt/proofbook/tests/fixtures/groth16.sh
COPY container/proofbook-init container/proofbook-demo-prover container/proofbook-healthcheck \
     /usr/local/bin/
ENV PROOFBOOK_LISTEN=0.0.0.0:8080 \
    PROOFBOOK_VERIFIER_SCRIPT=/opt/proofbook/server/prover/verifiers/verifier_worker.js \
    PROOFBOOK_NODE_PATH=/opt/proofbook/var/node/node_modules \
    PROOFBOOK_SNARKJS=/opt/proofbook/var/node/node_modules/snarkjs/cli.js \
    PROOFBOOK_DATA=/var/lib/proofbook
USER proofbook
WORKDIR /var/lib/proofbook
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["proofbook-healthcheck"]
ENTRYPOINT ["proofbook-server"]
CMD ["serve"]

FROM runtime AS demo
USER root
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/proofbook/var \
    && ln -s /var/lib/proofbook/fixtures /opt/proofbook/var/fixtures \
    && ln -s /var/lib/proofbook/admin.key /opt/proofbook/var/admin.key
COPY clients/demo.sh /opt/proofbook/clients/demo.sh
COPY container/proofbook-demo-order /usr/local/bin/
# demo.sh finds the programs in PROOFBOOK_BIN_DIR, and in var/ of its tree the admin key and
# the Groth16 circuit: links to those `migrate` and the demo prover left in the data volume.
ENV PROOFBOOK_BIN_DIR=/usr/local/bin
USER proofbook
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["/opt/proofbook/clients/demo.sh"]

# The default target (`docker build .`): the runtime image.
FROM runtime AS server
