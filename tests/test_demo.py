"""`pertinent demo` runs the whole walk-through offline, and a second run reuses what the first set up."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from pertinent.config import load_settings
from pertinent.demo.catalog import generate
from pertinent.demo.run import run_demo
from tests.conftest import MOVIELENS, free_port, needs_movielens


def test_generated_catalog_is_deterministic_and_big_enough(tmp_path: Path) -> None:
    first = generate(tmp_path / "a")
    second = generate(tmp_path / "b")
    assert first.interactions_csv.read_bytes() == second.interactions_csv.read_bytes()
    assert first.n_interactions >= 1000 and first.n_users >= 25
    with first.items_csv.open(newline="") as f:
        titles = [row["TITLE"] for row in csv.DictReader(f)]
    assert len(titles) == first.n_items == len(set(titles))  # every title is unique


def test_demo_walkthrough(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", port=free_port(), worker_poll_seconds=0.05)
    out = io.StringIO()
    run_demo(settings, None, Console(file=out, width=140), serve_forever=False)
    text = out.getvalue()
    flat = " ".join(text.split())  # rich wraps long lines (a long data path) anywhere
    for expected in (
        "import interactions",
        "train aws-user-personalization",
        "Recommended for user-1",
        "Similar to",
        "ranked for user-1",
        "the very next request",
        "serves this data again",
    ):
        assert expected in flat, expected
    assert "Console:" not in text and f"{settings.port}/console/" not in text  # --no-serve: nothing is served
    assert "0.0000" not in text and "e-0" not in text  # scores with three significant digits
    # every training shows the time the server measured for it, though they overlap
    for recipe in ("aws-user-personalization", "aws-similar-items", "aws-personalized-ranking"):
        line = next(line for line in text.splitlines() if f"train {recipe}" in line)
        trained = re.search(r"ACTIVE\s+([\d.]+) s$", line.rstrip())
        assert trained is not None and float(trained.group(1)) > 0, line
    # the similar-items table has no empty score column; every cell is filled
    similar = text[text.index("Similar to") : text.index("ranked for user-1")]
    assert "score" not in similar
    # the events visibly change the very next answer: the table marks what moved, a line says what changed
    after = text[text.index("the very next request") : text.index("One request later")]
    assert "change" in after and any(mark in after for mark in ("new", "▲", "▼")), after
    assert re.search(r"One request later: \d+ new in the list .*, \d+ dropped out", flat), flat
    # the search matches with graded BM25 scores, and personalization moves hits
    search = text[text.index("Search “") :]
    bm25 = [float(m) for m in re.findall(r"│\s+[▲▼·]\d*\s+│\s+([\d.]+)\s+│", search)]
    assert len(bm25) == 10 and len(set(bm25)) > 1, search
    assert "▲" in search
    again = io.StringIO()
    run_demo(settings, None, Console(file=again, width=140), serve_forever=False)
    assert "already set up" in again.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three trainings on 100,836 ratings: minutes on a loaded 2-core machine
@needs_movielens
def test_demo_on_movielens(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", port=free_port(), worker_poll_seconds=0.05)
    out = io.StringIO()
    run_demo(settings, MOVIELENS, Console(file=out, width=160), serve_forever=False)
    assert "100,836 ratings" in out.getvalue()
    assert "Recommended for 1" in out.getvalue()
