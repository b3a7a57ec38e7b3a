# syntax=docker/dockerfile:1
# bee-trace image: the kernel programs are compiled in the build stage; the
# runtime stage holds Python, libbpf1 and the wheel, nothing else (no
# compiler, no headers). Run it with the capabilities in docs/deployment.md,
# not --privileged:
#
#   docker run --rm --pid=host --cap-drop=ALL \
#     --cap-add=BPF --cap-add=PERFMON --cap-add=DAC_READ_SEARCH \
#     -v /sys/kernel/btf:/sys/kernel/btf:ro \
#     -v /sys/kernel/tracing:/sys/kernel/tracing:ro \
#     bee-trace:latest --probe-type all

ARG DEBIAN=debian:12-slim

# --- build: clang compiles the BPF objects inside the wheel ---
FROM ${DEBIAN} AS build
SHELL ["/bin/sh", "-eu", "-c"]
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN sh scripts/install-deps.sh build run
COPY requirements/build.lock requirements/build.lock
RUN python3 -m venv /opt/build \
    && /opt/build/bin/python -m pip install --no-cache-dir --no-deps --require-hashes -r requirements/build.lock
COPY . .
# a fresh build: the BPF objects come from the sources just copied
RUN rm -rf build dist \
    && /opt/build/bin/python -m pip wheel --no-cache-dir --no-deps --no-build-isolation \
        --wheel-dir /dist .

# --- runtime: Python, libbpf1 and the wheel ---
FROM ${DEBIAN} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="bee-trace" \
      org.opencontainers.image.description="Linux host security monitor built on eBPF (libbpf, CO-RE)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/deployment.md" \
      org.opencontainers.image.base.name="debian:12-slim"
SHELL ["/bin/sh", "-eu", "-c"]
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN sh /tmp/install-deps.sh run \
    && rm -rf /tmp/install-deps.sh /var/lib/apt/lists/*
COPY requirements/runtime.lock /tmp/runtime.lock
COPY --from=build /dist/ /tmp/dist/
RUN python3 -m venv /opt/bee-trace \
    && /opt/bee-trace/bin/python -m pip install --no-cache-dir --no-deps --require-hashes -r /tmp/runtime.lock \
    && /opt/bee-trace/bin/python -m pip install --no-cache-dir --no-deps /tmp/dist/*.whl \
    && rm -rf /tmp/dist /tmp/runtime.lock
# the policy comes from a mounted file (Kubernetes: a ConfigMap); without one,
# the policy embedded in the package
ENV PATH=/opt/bee-trace/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1
# root inside the container, with every capability dropped but those that
# `docker run --cap-add` (or the DaemonSet) gives back
ENTRYPOINT ["bee-trace"]
CMD ["--probe-type", "all", "--format", "json"]
