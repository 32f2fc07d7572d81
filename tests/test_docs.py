"""The documentation is true: every relative link and cited repository path exists, and every ``bash`` and
``python`` block in README.md and docs/*.md runs against the demo's server (like datasette's doc tests).

A block that cannot run here is marked on the line before its fence with
``<!-- docs-test: skip: <reason> -->``; the reason is required. Blocks run in order, one file after the
other, with ``http://127.0.0.1:8080`` pointed at the test's server (``PERTINENT_ENDPOINT`` for
``pertinent search``).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from pertinent.config import load_settings
from tests.conftest import REPO, free_port

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DEMO_URL = "http://127.0.0.1:8080"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
SKIP = re.compile(r"<!-- docs-test: skip(?::\s*(.*?))?\s*-->\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"`((?:tests|benchmarks|docs|pertinent|\.ci)/[\w./-]*)")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    code: str
    skip_reason: str | None  # None: runs; "" would be a marker without a reason

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) not in ("bash", "python"):
                continue
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = SKIP.search(before)
            reason = None if marker is None else (marker.group(1) or "").strip()
            found.append(Block(path, line, match.group(1), match.group(2), reason))
    return found


def test_every_relative_link_and_cited_path_resolves() -> None:
    broken = []
    for path in DOCS:
        text = path.read_text()
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{path.relative_to(REPO)}: link {target}")
        for cited in CITED.findall(text):
            if not (REPO / cited.rstrip(".")).exists():
                broken.append(f"{path.relative_to(REPO)}: cites {cited}")
    assert not broken, broken


def test_every_skipped_block_says_why() -> None:
    skipped = [b for b in blocks() if b.skip_reason is not None]
    assert all(b.skip_reason for b in skipped), [b.id for b in skipped if not b.skip_reason]
    assert len([b for b in blocks() if b.skip_reason is None]) >= 5  # most blocks do run


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's resources (as `pertinent demo` makes them) on a live server."""
    from pertinent.demo.catalog import generate
    from pertinent.demo.run import Demo, start

    tmp = tmp_path_factory.mktemp("docs")
    settings = load_settings(data_dir=tmp / "data", port=free_port(), worker_poll_seconds=0.05)
    server = start(settings)
    try:
        Demo(server, Console(file=io.StringIO())).setup(generate(tmp / "input"))
        yield server.url
    finally:
        server.stop()


RUNNABLE = [b for b in blocks() if b.skip_reason is None]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_the_block_runs_against_the_demo(block: Block, demo_url: str, tmp_path: Path) -> None:
    code = block.code.replace(DEMO_URL, demo_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PERTINENT_ENDPOINT": demo_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    if block.language == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{block.id}\n{code}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
