"""The README's two set-up commands, pasted literally into a fresh virtual environment on a clean copy.

To stay cheap and offline the fresh venv sees the test run's own site-packages through a ``.pth`` line (so pip
resolves every dependency from what is installed, with ``PIP_NO_INDEX``, and builds the wheel with the
installed hatchling, ``PIP_NO_BUILD_ISOLATION=0``), but pertinent itself is built from the copy and installed
into the fresh venv, and the commands run from the copy with the venv first on PATH. Two edits are made, both
asserted against the README's text: the demo runs with ``--no-serve`` (it would otherwise serve forever) and
the test command runs a smoke subset.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

README = REPO / "README.md"
SMOKE = "tests/test_harness.py::test_hypothesis_runs_without_a_deadline tests/test_tutorial_flow.py::test_server_health"


def setup_commands() -> list[str]:
    """The command lines of the README's first ``bash`` block, comments stripped."""
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README.md has no ```bash block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_sets_up_in_two_commands() -> None:
    install_and_run, install_and_test = setup_commands()
    assert install_and_run.startswith("pip install . && ") and install_and_run.endswith("pertinent demo")
    assert install_and_test.startswith("pip install '.[test]' && ") and "python -m pytest" in install_and_test


def clean_copy(dest: Path) -> None:
    """What a fresh clone holds: the tracked files and the untracked ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    dest.mkdir()
    archive = dest / "copy.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, listed.split("\0")):
            if (REPO / name).is_file():
                tar.add(REPO / name, arcname=name)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()


def fresh_venv(folder: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(folder)
    purelib = Path(sysconfig.get_paths(vars={"base": str(folder), "platbase": str(folder)})["purelib"])
    (purelib / "test-run-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = folder / "bin" / "pip"  # the test run's pip module, installing into this venv
    pip.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    pip.chmod(0o755)
    return folder


@pytest.mark.slow
def test_the_readme_commands_work_in_a_fresh_venv_on_a_clean_copy(tmp_path: Path) -> None:
    install_and_run, install_and_test = setup_commands()
    assert "python -m pytest -n 2" in install_and_test
    clone = tmp_path / "clone"
    clean_copy(clone)
    env_dir = fresh_venv(tmp_path / "venv")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PERTINENT_", "PIP_"))},
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling for --no-build-isolation
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PERTINENT_PORT": str(free_port()),
    }

    def sh(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done.stdout

    demo = sh(install_and_run + " --no-serve")
    assert "Recommended for user-1" in demo and "Search" in demo, demo
    where = sh("cd / && python -c 'import pertinent, sys; print(pertinent.__file__); print(sys.prefix)'")
    assert where.splitlines() == [
        str(env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "pertinent" / "__init__.py"),
        str(env_dir),
    ]  # fmt: skip
    tests = sh(install_and_test.replace("python -m pytest -n 2", f"python -m pytest -n 2 {SMOKE}"))
    assert re.search(r"\b2 passed\b", tests), tests
