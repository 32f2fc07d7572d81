"""The test harness itself is robust on a loaded machine and loud under CI (issue 16)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from pertinent.api.background import serve_in_background
from pertinent.config import load_settings
from tests.conftest import REPO


def test_hypothesis_runs_without_a_deadline() -> None:
    assert settings.default.deadline is None


def test_a_server_that_cannot_listen_fails_at_once_instead_of_waiting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(data_dir=tmp_path / "data", host="127.0.0.1", port=port, worker_threads=0)
        with pytest.raises(RuntimeError, match="did not start"):
            serve_in_background(settings)


def _run_movielens_test(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_needs_data.py"
    test.write_text(
        "from tests.conftest import needs_movielens\n\n"
        "@needs_movielens\n"
        "def test_uses_data(movielens):\n"
        "    assert (movielens / 'ratings.csv').exists()\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-rs", "-p", "tests.conftest", "--rootdir", str(REPO), str(test)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def test_missing_movielens_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    base = {"PERTINENT_TEST_DATA": str(tmp_path / "nowhere")}
    local = _run_movielens_test(tmp_path, {**base, "CI": ""})
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout + local.stderr
    assert "set PERTINENT_TEST_DATA" in local.stdout
    ci = _run_movielens_test(tmp_path, {**base, "CI": "true"})
    assert ci.returncode == 1 and "cannot run under CI" in ci.stdout, ci.stdout + ci.stderr
