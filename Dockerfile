# syntax=docker/dockerfile:1
# The vmop operator image: `docker build -t vmop:0.1.0 .` from the repository root.
# Two stages: the builder turns the checkout into wheels (vmop's own and its dependencies');
# the final stage installs those wheels only (no source tree, no compilers, no pip left) and
# runs as an unprivileged user. tests/unit/test_dockerfile.py checks these properties.

# Pinned to a patch release; bump deliberately (and pin a digest, python@sha256:..., if your
# registry policy asks for it).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# vmop's wheel, plus a wheel of every dependency, so the final stage needs no index and no build.
# No extras: the simulator's web stack (vmop[sim]) stays out of the operator's image.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Install from the builder's wheels (bind-mounted, so they do not stay in a layer), then remove
# pip and setuptools: nothing installs anything at runtime.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels vmop \
    && pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 65532 vmop \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin vmop
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# kopf's liveness endpoint (vmop run --liveness-port) and Prometheus /metrics (--metrics-port).
EXPOSE 8080 8081
ENTRYPOINT ["vmop", "run"]
