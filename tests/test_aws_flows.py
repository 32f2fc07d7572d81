"""AWS's "measure impact" and "promotions" flows, run as a script that uses only the documented API
(examples/measure_impact_and_promotions.py) against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pertinent.config import load_settings
from tests.conftest import REPO, start_server

SCRIPT = REPO / "examples" / "measure_impact_and_promotions.py"


def test_measure_impact_and_promotions_flows_run_end_to_end(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05, metric_report_seconds=1.0)
    server, stop = start_server(settings)
    try:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--endpoint-url", server.url, "--work-dir", str(tmp_path / "flow")],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout and done.stdout.rstrip().endswith("done")
    assert "ok   streamed-event reports equal the events sent" in done.stdout
    assert "ok   30 % of 10 recommendations are promoted" in done.stdout
    reports = list((tmp_path / "flow" / "reports").glob("AggregatedAttributionMetrics-INCREMENTAL-*.csv"))
    assert reports and reports[0].read_text().startswith(
        "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP\n"
    )
