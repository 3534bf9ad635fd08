"""The Dockerfiles cannot be built here (no Docker engine): check what can be checked offline.
Every file they copy exists, every final stage runs as the non-root uid the manifests expect, and
each image starts the program its pods run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podml.kubernetes.security import RUN_AS

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "platform.Dockerfile": '["podml"]',
    "trainer.Dockerfile": '["python", "-m", "podml.trainer"]',
    "kubeserve-base.Dockerfile": '["python", "-m", "podml.serving"]',
}


def _final_stage(text: str) -> str:
    return text[text.rindex("\nFROM ") :]


@pytest.mark.parametrize(("name", "program"), IMAGES.items())
def test_images_copy_what_exists_and_run_as_appuser(name: str, program: str) -> None:
    text = (ROOT / "docker" / name).read_text()
    for line in text.splitlines():
        match = re.match(r"COPY (?!--from)(.+) \S+$", line)
        if match:
            for source in match.group(1).split():
                assert (ROOT / source).exists(), f"{name}: COPY {source} does not exist"
    final = _final_stage(text)
    assert f"USER {RUN_AS}:{RUN_AS}" in final
    assert f"useradd --uid {RUN_AS}" in final
    assert program in final
    assert "uv sync --frozen" in text  # installs exactly the lock's versions


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", "web/node_modules", ".git"} <= ignored
