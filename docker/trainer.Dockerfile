# podml-trainer: the training and build Jobs (`python -m podml.trainer` / `python -m
# podml.serving.build`; the Job sets the command). The pod contract (DESIGN.md) is all it reads.
#   docker build -f docker/trainer.Dockerfile -t podml-trainer:0.1.0 .

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
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 HOME=/home/appuser
USER 10001:10001
ENTRYPOINT []
CMD ["python", "-m", "podml.trainer"]
