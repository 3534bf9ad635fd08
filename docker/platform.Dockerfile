# The platform: `podml serve` (web UI, API, gateway) and `podml worker` (reconciler).
#   docker build -f docker/platform.Dockerfile -t podml:0.1.0 .
# Runs as the non-root appuser (uid 10001) with a read-only root filesystem: writable state lives
# in PostgreSQL and S3; /tmp is an emptyDir in the chart.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
ENV NEXT_TELEMETRY_DISABLED=1
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY web/ ./
RUN npx next build

FROM python:3.11-slim-bookworm AS python
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /bin/uv
WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project
COPY src/ src/
RUN uv sync --frozen

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 appuser && useradd --uid 10001 --gid 10001 --create-home appuser
WORKDIR /app
COPY --from=python /app/.venv /app/.venv
COPY --from=python /app/src /app/src
COPY --from=web /src/web/out /app/web/out
ENV PATH=/app/.venv/bin:$PATH \
    PODML_WEB_DIR=/app/web/out \
    PODML_DATA_DIR=/tmp/podml \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["podml"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
