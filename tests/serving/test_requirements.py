"""The entry step's requirement diff: parsing, the installed-distribution check, and layered
environments built from a wheel the test writes itself (no network: --no-index --find-links)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from podml.serving.requirements import (
    Environment,
    RequirementsError,
    missing_requirements,
    parse_requirements,
    prepare_environment,
)
from tests.support.wheels import build_wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    build_wheel(folder, "podml_tiny_dep", "1.2.0", "VALUE = 42\n")
    return folder


def run(env: Environment, code: str) -> str:
    done = subprocess.run([env.python, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_parse_accepts_requirements() -> None:
    text = """
    # a comment
    numpy>=1.20  # trailing comment
    scikit-learn[benchmark]==1.9.*
    foo ; python_version < "3.0"

    Bar_Baz~=2.1
    """
    names = [r.name for r in parse_requirements(text)]
    assert names == ["numpy", "scikit-learn", "foo", "Bar_Baz"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-e .", "pip options are not allowed"),
        ("--index-url https://evil.example/simple", "pip options"),
        ("-r other.txt", "pip options"),
        ("--extra-index-url=https://x", "pip options"),
        ("https://example.com/pkg.whl", "URLs and local paths"),
        ("pkg @ https://example.com/pkg.whl", "URLs and local paths"),
        ("pkg @ file:///tmp/pkg.whl", "URLs and local paths"),
        ("./local/pkg", "URLs and local paths"),
        ("/abs/pkg.whl", "URLs and local paths"),
        ("numpy>=1 \\", "continuations"),
        ("not a requirement!!", "not a valid requirement"),
    ],
)
def test_parse_refuses(line: str, message: str) -> None:
    with pytest.raises(RequirementsError, match=message) as caught:
        parse_requirements(f"numpy\n{line}\n")
    assert "line 2" in str(caught.value)


def test_missing_requirements() -> None:
    reqs = [
        Requirement("numpy>=1"),
        Requirement("numpy<1"),
        Requirement("podml-surely-not-installed"),
        Requirement('podml-surely-not-installed-either; python_version < "3"'),
        Requirement("uvicorn[standard]"),
        Requirement("pydantic[surely-no-such-extra]"),
    ]
    missing = [str(r) for r in missing_requirements(reqs)]
    assert missing == ["numpy<1", "podml-surely-not-installed"]


def test_satisfied_requirements_need_no_environment(tmp_path: Path) -> None:
    env = prepare_environment("numpy>=1\nscikit-learn\n", cache_dir=tmp_path)
    assert env.created is False
    assert env.installed == []
    assert not any(tmp_path.iterdir())


def test_missing_package_is_installed_layered_and_reused(wheels: Path, tmp_path: Path) -> None:
    text = "numpy>=1\npodml-tiny-dep==1.2.0\n"
    args = ["--no-index", "--find-links", str(wheels)]
    env = prepare_environment(text, cache_dir=tmp_path, pip_args=args)
    assert env.created is True
    assert env.installed == ["podml-tiny-dep==1.2.0"]
    assert run(env, "import podml_tiny_dep; print(podml_tiny_dep.VALUE)") == "42"
    # the platform's packages (and podml itself, an editable install) come through the .pth layering
    assert run(env, "import sklearn, numpy, podml.serving.contract; print('ok')") == "ok"
    started = time.perf_counter()
    again = prepare_environment(text, cache_dir=tmp_path, pip_args=args)
    assert time.perf_counter() - started < 0.5
    assert again.created is False
    assert again.python == env.python
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [
        Path(env.python).parents[1].name
    ]


def test_concurrent_preparers_share_one_environment(wheels: Path, tmp_path: Path) -> None:
    args = ["--no-index", "--find-links", str(wheels)]
    results: list[Environment] = []

    def prepare() -> None:
        results.append(prepare_environment("podml-tiny-dep", cache_dir=tmp_path, pip_args=args))

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.python for r in results}) == 1


def test_failed_install_leaves_nothing(wheels: Path, tmp_path: Path) -> None:
    with pytest.raises(RequirementsError, match=r"pip exit \d+") as caught:
        prepare_environment(
            "podml-tiny-dep==9.9\n", cache_dir=tmp_path, pip_args=["--no-index", "--find-links", str(wheels)]
        )
    assert "podml-tiny-dep" in str(caught.value)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
