"""The command line: `pertinent train` on a data directory, with its progress bar and metrics table."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pertinent.cli import main
from pertinent.config import load_settings
from tests.conftest import make_group, start_server


def test_train_creates_a_solution_and_prints_metrics(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    live, stop = start_server(load_settings(data_dir=data_dir, worker_poll_seconds=0.05))
    group = make_group(live.client(), tmp_path)
    stop()

    result = CliRunner().invoke(main, ["train", "--data-dir", str(data_dir), "--dataset-group-arn", group.arn,
                                       "--recipe", "aws-user-personalization", "--name", "from-cli"])
    assert result.exit_code == 0, result.output
    assert "solution/from-cli/" in result.output
    assert "training" in result.output and "100%" in result.output
    assert "normalized_discounted_cumulative_gain_at_10" in result.output
    assert "precision_at_25" in result.output


def test_train_reports_failures_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "--solution-arn" in result.output
    result = runner.invoke(main, ["train", "--data-dir", str(tmp_path / "d"), "--solution-arn",
                                  "arn:aws:personalize:us-east-1:000000000000:solution/missing"])
    assert result.exit_code == 1
    assert "ResourceNotFoundException" in result.output
