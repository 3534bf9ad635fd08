# kubeserve-base: the model server (`python -m podml.serving`) with fastapi, uvicorn, pandas,
# numpy, scikit-learn, joblib and onnxruntime preinstalled, so that most models start with
# nothing to install. Its entry step reads REQUIREMENTS_URL, compares requirements.txt with the
# installed distributions and installs only what is missing, as the non-root appuser, into a
# virtual environment in its home directory (an emptyDir) layered over these packages.
#   docker build -f docker/kubeserve-base.Dockerfile -t kubeserve-base:0.1.0 .

FROM python:3.11-slim-bookworm AS python
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /bin/uv
WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project
COPY src/ src/
RUN uv sync --frozen && /app/.venv/bin/python -m pip --version >/dev/null 2>&1 || uv pip install --python /app/.venv/bin/python pip

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 appuser && useradd --uid 10001 --gid 10001 --create-home appuser
WORKDIR /app
COPY --from=python /app/.venv /app/.venv
COPY --from=python /app/src /app/src
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/appuser \
    PORT=8080 \
    REQUIREMENTS_CACHE_DIR=/home/appuser/.cache/podml/environments
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "podml.serving"]
