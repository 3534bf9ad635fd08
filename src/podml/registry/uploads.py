"""Uploaded model versions: `model.joblib` (+ `requirements.txt`) stored under the version's prefix.

The control plane never unpickles an upload: it checks the file looks like a joblib/pickle
artifact, checks the requirements' syntax, stores both, and records the version as `building`.
A model-server process then loads it (installing what the requirements add) and the version turns
`ready` or `failed` with the loader's own error.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.errors import Invalid
from podml.registry import service
from podml.registry.models import ModelVersion
from podml.storage import Storage

MODEL_FILE = "model.joblib"
REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 64 * 1024

# How joblib files begin: a pickle (protocol 2+), or joblib's compressors (zlib, gzip, bz2, xz, lzma, lz4).
_SIGNATURES = (b"\x80", b"x", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


def _looks_like_joblib(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(8)
    return bool(head) and any(head.startswith(signature) for signature in _SIGNATURES)


def check_requirements(text: str) -> None:
    """Refuse what pip must not be asked to do (options, URLs, paths) and what is not a requirement."""
    from podml.serving.requirements import RequirementsError, parse_requirements

    try:
        parse_requirements(text)
    except RequirementsError as exc:
        raise Invalid(f"requirements.txt: {exc}") from exc


async def upload_version(
    session: AsyncSession,
    storage: Storage,
    principal: Principal,
    model_id: uuid.UUID,
    model_file: Path,
    requirements: str | None,
) -> ModelVersion:
    model = await service.get(session, principal, model_id)
    if not await asyncio.to_thread(_looks_like_joblib, model_file):
        raise Invalid("the 'model' file is not a joblib or pickle file (save it with joblib.dump)")
    if requirements is not None:
        check_requirements(requirements)
    version_id = uuid.uuid4()
    prefix = service.version_prefix(model, version_id)
    await storage.put_file(prefix + MODEL_FILE, model_file, content_type="application/octet-stream")
    try:
        if requirements is not None and requirements.strip():
            await storage.put_bytes(
                prefix + REQUIREMENTS_FILE, requirements.encode(), content_type="text/plain"
            )
        version = await service.register_version(
            session,
            model=model,
            version_id=version_id,
            storage_prefix=prefix,
            artifact_uri=storage.uri(prefix.rstrip("/")) + "/",
            status="building",
            source="upload",
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        await storage.delete_prefix(prefix)
        raise
    return version
