# syntax=docker/dockerfile:1
# Multi-stage: build a wheel and a venv in the builder; the final image has the
# venv and Python only - no pip cache, no compilers, runs as non-root.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY syncer ./syncer
RUN python -m venv /opt/kserve-vault-sync \
 && /opt/kserve-vault-sync/bin/pip install --no-compile . \
 && /opt/kserve-vault-sync/bin/pip uninstall -y pip setuptools wheel

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kserve-vault-sync" \
      org.opencontainers.image.description="Keeps KServe storage credentials in step with Vault" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/kserve-vault-sync /opt/kserve-vault-sync
ENV PATH=/opt/kserve-vault-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532: the conventional "nonroot" uid; no shell login, no home writes needed.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kserve-vault-sync"]
CMD ["run", "-c", "/etc/kserve-vault-sync/config.yaml", "--listen", ":8080"]
