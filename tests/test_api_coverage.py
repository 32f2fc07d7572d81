"""docs/api-coverage.md is generated from botocore's models and must match what the server routes."""

from __future__ import annotations

from pathlib import Path

from pertinent.api import coverage

DOC = Path(__file__).resolve().parents[1] / "docs" / "api-coverage.md"


def test_api_coverage_doc_is_current() -> None:
    expected = coverage.render(coverage.implemented_operations())
    assert DOC.read_text() == expected, "regenerate: python -m pertinent.api.coverage > docs/api-coverage.md"


def test_every_model_operation_is_listed() -> None:
    text = DOC.read_text()
    for service in coverage.SERVICES:
        for operation in coverage.model_operations(service):
            assert f"| {operation} |" in text
    assert "| CreateDatasetGroup | implemented |" in text
