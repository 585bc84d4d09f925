# syntax=docker/dockerfile:1
# Multi-stage: build a venv in the builder; the final image has Python and the
# venv only - no pip, no compilers, no package cache - and runs as non-root.
#
# PYTHON_IMAGE is any Debian-based image with python3 (>= 3.11) and its venv
# module. The default is the public slim image; the test suite builds with a
# base assembled from Debian's packages (mmdebstrap), as no registry of
# container images is reachable there.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Optional, for builds behind a TLS-inspecting proxy or a mirror: a CA bundle
# (a path inside the build stage) and an index URL. Build-time only.
ARG PIP_CERT
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python3 -m venv /opt/kserve-vault-sync \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/kserve-vault-sync/bin/pip install --no-compile -r /tmp/requirements.txt "setuptools>=77"
COPY README.md LICENSE ./
COPY syncer ./syncer
RUN /opt/kserve-vault-sync/bin/pip install --no-compile --no-deps --no-build-isolation . \
 && /opt/kserve-vault-sync/bin/pip uninstall -y pip setuptools

# The SBOM: a CycloneDX inventory of exactly the venv the final image ships,
# made by a tool in a venv of its own that is not copied into the image.
FROM build AS sbom
ARG PIP_CERT
ARG PIP_INDEX_URL
ARG CYCLONEDX_BOM_VERSION=7.5.0
RUN python3 -m venv /opt/sbom-tool \
 && /opt/sbom-tool/bin/pip install "cyclonedx-bom==${CYCLONEDX_BOM_VERSION}" \
 && /opt/sbom-tool/bin/cyclonedx-py environment --output-format JSON \
      --output-file /sbom.cdx.json /opt/kserve-vault-sync/bin/python

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kserve-vault-sync" \
      org.opencontainers.image.description="Keeps KServe storage credentials in step with Vault" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.kserve-vault-sync.sbom="/usr/share/doc/kserve-vault-sync/sbom.cdx.json"
COPY --from=build /opt/kserve-vault-sync /opt/kserve-vault-sync
COPY --from=sbom /sbom.cdx.json /usr/share/doc/kserve-vault-sync/sbom.cdx.json
ENV PATH=/opt/kserve-vault-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532: the conventional "nonroot" uid; no shell login, no home writes needed.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["kserve-vault-sync"]
CMD ["run", "-c", "/etc/kserve-vault-sync/config.yaml", "--listen", ":8080"]
