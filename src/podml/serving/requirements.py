"""The model server's entry step: install only the requirements the platform does not already satisfy.

* `parse_requirements` accepts PEP 508 requirement lines (names, extras, version specifiers, markers;
  comments and blank lines ignored) and refuses pip options (`-e`, `-r`, `--index-url`, ...), URLs
  and local paths: an upload does not get to point pip at arbitrary places.
* `missing_requirements` compares them with the installed distributions (importlib.metadata),
  honouring environment markers (python_version, sys_platform, ...) and extras (an extra's own
  requirements must be satisfied too).
* `prepare_environment` returns the current interpreter when nothing is missing. Otherwise it
  creates, or reuses, a virtual environment at `cache_dir/<key>/`, where `<key>` is the sha256 of the
  normalised requirement set and the interpreter (`requirements_key`). A `.pth` file in its
  site-packages layers the platform's site-packages *under* it: the new packages win, everything
  else (numpy, scikit-learn, podml itself) comes from the platform. Only the missing requirements
  are pip-installed. The environment is built in a temporary directory and renamed into place; a
  concurrent preparer of the same key waits on `<key>.lock` and reuses it; a failed install leaves
  nothing behind and raises `RequirementsError` with pip's last lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

PTH_NAME: Final = "zz-podml-platform.pth"
DESCRIPTION: Final = "podml-environment.json"
LOCK_TIMEOUT: Final = 900.0
PIP_TIMEOUT: Final = 1800.0
PIP_TAIL_LINES: Final = 15


class RequirementsError(Exception):
    """requirements.txt is refused, or installing it failed (the message says which and why)."""


@dataclass(frozen=True)
class Environment:
    python: str  # the interpreter to run the model server with
    site_dirs: list[str]  # its package directories, highest priority first
    created: bool  # a new environment was built by this call
    installed: list[str] = field(default_factory=list)  # "name==version" installed into it


def parse_requirements(text: str) -> list[Requirement]:
    requirements: list[Requirement] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        line = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line:
            continue
        where = f"requirements.txt line {number} ({line[:80]!r})"
        if line.startswith("-"):
            raise RequirementsError(f"{where}: pip options are not allowed, only package requirements")
        if line.endswith("\\"):
            raise RequirementsError(f"{where}: line continuations are not supported")
        if "://" in line or line.startswith((".", "/", "~")) or (os.sep in line.split(";")[0]):
            raise RequirementsError(f"{where}: URLs and local paths are not allowed, only package names")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise RequirementsError(f"{where}: not a valid requirement: {exc}") from None
        if requirement.url:
            raise RequirementsError(f"{where}: URLs and local paths are not allowed, only package names")
        requirements.append(requirement)
    return requirements


def _satisfied(requirement: Requirement, extra: str | None, seen: set[str]) -> bool:
    environment = {"extra": extra or ""}
    if requirement.marker is not None and not requirement.marker.evaluate(environment):
        return True  # does not apply here
    name = canonicalize_name(requirement.name)
    try:
        distribution = metadata.distribution(requirement.name)
    except metadata.PackageNotFoundError:
        return False
    if not requirement.specifier.contains(distribution.version, prereleases=True):
        return False
    for wanted in sorted(requirement.extras):
        key = f"{name}[{canonicalize_name(wanted)}]"
        if key in seen:
            continue
        seen.add(key)
        for line in distribution.requires or []:
            try:
                dependency = Requirement(line)
            except InvalidRequirement:
                continue
            if dependency.marker is None or not dependency.marker.evaluate({"extra": wanted}):
                continue  # not part of this extra
            dependency.marker = None
            if not _satisfied(dependency, None, seen):
                return False
    return True


def missing_requirements(requirements: Sequence[Requirement]) -> list[Requirement]:
    return [r for r in requirements if not _satisfied(r, None, set())]


def normalised(requirements: Sequence[Requirement]) -> list[str]:
    """Canonical spellings, sorted and without duplicates (what the environment key hashes)."""
    forms = set()
    for requirement in requirements:
        copy = Requirement(str(requirement))
        copy.name = canonicalize_name(copy.name)
        forms.add(str(copy))
    return sorted(forms)


def requirements_key(requirements: Sequence[Requirement]) -> str:
    material = {"requirements": normalised(requirements), "python": sys.version, "base": sys.prefix}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def platform_site_dirs() -> list[str]:
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    return dirs or [d for d in sys.path if d.endswith("site-packages")]


def _venv_site(root: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return root / "lib" / version / "site-packages"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RequirementsError(f"timed out waiting for {path}") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _existing(root: Path) -> Environment:
    described = json.loads((root / DESCRIPTION).read_text())
    return Environment(
        python=str(root / "bin" / "python"),
        site_dirs=[str(_venv_site(root)), *described["platform_site_dirs"]],
        created=False,
        installed=list(described["installed"]),
    )


def _build(tmp: Path, missing: Sequence[Requirement], pip_args: Sequence[str]) -> list[str]:
    import venv

    platform_dirs = platform_site_dirs()
    pip_reachable = importlib.util.find_spec("pip") is not None  # then the layering provides it
    venv.EnvBuilder(with_pip=not pip_reachable, symlinks=True, clear=True).create(tmp)
    site_dir = _venv_site(tmp)
    before = {p.name for p in site_dir.glob("*.dist-info")}
    # `import` lines run at start-up: addsitedir appends the platform's directories after the
    # environment's own and also processes their .pth files (editable installs, ...).
    lines = [f"import site; site.addsitedir({d!r})" for d in platform_dirs]
    (site_dir / PTH_NAME).write_text("\n".join(lines) + "\n")
    command = [
        str(tmp / "bin" / "python"), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
        *pip_args, *(str(r) for r in missing),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, validated requirement strings
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise RequirementsError(f"pip did not finish within {PIP_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-PIP_TAIL_LINES:])
        raise RequirementsError(f"installing the requirements failed (pip exit {done.returncode}):\n{tail}")
    installed = []
    for info in sorted(site_dir.glob("*.dist-info")):
        if info.name in before:
            continue
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        installed.append(f"{canonicalize_name(name)}=={version}")
    description = {"requirements": normalised(missing), "installed": installed}
    description["platform_site_dirs"] = platform_dirs
    (tmp / DESCRIPTION).write_text(json.dumps(description, indent=2))
    return installed


def prepare_environment(
    requirements_text: str, *, cache_dir: Path, pip_args: Sequence[str] = ()
) -> Environment:
    requirements = parse_requirements(requirements_text)
    missing = missing_requirements(requirements)
    if not missing:
        return Environment(python=sys.executable, site_dirs=platform_site_dirs(), created=False)
    key = requirements_key(requirements)
    root = cache_dir / key
    if (root / DESCRIPTION).exists():
        return _existing(root)
    with _locked(cache_dir / f"{key}.lock"):
        if (root / DESCRIPTION).exists():  # built by another preparer while we waited
            return _existing(root)
        tmp = cache_dir / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            installed = _build(tmp, missing, pip_args)
            os.replace(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        described = _existing(root)
        return Environment(described.python, described.site_dirs, created=True, installed=installed)
