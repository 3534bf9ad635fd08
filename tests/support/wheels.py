"""Tiny wheels written by hand, for offline installs in tests (pip --no-index --find-links)."""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import sys
import zipfile
from pathlib import Path

import joblib


def build_wheel(folder: Path, name: str, version: str, body: str) -> Path:
    """A minimal pure-Python wheel, zipped by hand."""
    files = {
        f"{name}/__init__.py": body,
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


TINY = "podml_tiny_model"
TINY_SOURCE = "class Doubler:\n    def predict(self, rows):\n        return [2 * row[0] for row in rows]\n"


def tiny_wheelhouse(folder: Path) -> Path:
    """A folder holding the wheel of `podml_tiny_model` 1.0.0, a package the platform lacks."""
    build_wheel(folder, TINY, "1.0.0", TINY_SOURCE)
    return folder


def tiny_model_bytes(tmp_path: Path) -> bytes:
    """A pickle of `podml_tiny_model.Doubler()`: loading it needs a package the platform lacks."""
    package = tmp_path / "src" / TINY
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TINY_SOURCE)
    sys.path.insert(0, str(package.parent))
    try:
        module = importlib.import_module(TINY)
        buffer = io.BytesIO()
        joblib.dump(module.Doubler(), buffer)
    finally:
        sys.path.remove(str(package.parent))
        sys.modules.pop(TINY, None)
    return buffer.getvalue()
