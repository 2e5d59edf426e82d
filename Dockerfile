# One non-root image for the three components: `botgateway serve` (webhook + worker + janitor
# loop, the default), `botgateway janitor --once` (the CronJob) and `botgateway operator`.
#
#   docker build -t botgateway:0.1.0 .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e BOTGATEWAY_CONFIG=/bots.yaml \
#     -v "$PWD/bots.yaml:/bots.yaml:ro" botgateway:0.1.0
#
# The base is python:3.11-slim (the multi-arch index on Docker Hub as published around
# 2026-08-25), pinned by digest so two builds of one commit get the same system libraries.
# Refresh it with `docker buildx imagetools inspect python:3.11-slim` and keep both stages on
# the same digest: the runtime stage reuses the build stage's virtualenv, which points at the
# base image's python3.11.
#
# Offline builds (the kind suite's scripts/e2e-images.sh): any Python 3.11+ image with `python3`
# and its venv module as PYTHON_IMAGE (Debian bookworm's python3 + python3-venv), and every
# wheel fetched beforehand into wheelhouse/ in the build context; the build then reaches no
# network. Without a wheelhouse it fetches from PyPI.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# -- build: wheels for the project and every dependency, installed into a virtualenv ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# pyproject.toml names README.md as the package's long description: the wheel needs both.
COPY pyproject.toml README.md ./
COPY src ./src
# The [e] makes the folder optional: COPY fails only when no source matches at all.
COPY pyproject.toml wheelhous[e] /wheels/
RUN python3 -m venv /opt/botgateway \
    && if ! ls /wheels/*.whl >/dev/null 2>&1; then \
         /opt/botgateway/bin/pip wheel --wheel-dir /wheels . ; \
       fi \
    && /opt/botgateway/bin/pip install --no-index --find-links /wheels botgateway \
    && /opt/botgateway/bin/botgateway --help >/dev/null

# -- runtime: the base image, one unprivileged user and the virtualenv; no build tools --------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="botgateway" \
      org.opencontainers.image.description="Kubernetes-native Telegram bot gateway with a durable PostgreSQL job queue" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# UID/GID 10001 is what the operator's pods and the chart set in runAsUser: keep them equal.
RUN groupadd --system --gid 10001 botgateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin botgateway
COPY --from=build /opt/botgateway /opt/botgateway
# Bytecode was compiled at install time, so a read-only root filesystem is fine; logs are JSON.
ENV PATH=/opt/botgateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# Exec form throughout: nothing here needs a shell at run time. /healthz answers 200 while the
# process runs (serve, and the operator's --liveness endpoint on the same port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["botgateway"]
CMD ["serve"]
