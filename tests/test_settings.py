"""Settings: environment and overrides, and docs/settings.md kept in step with the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from pertinent import config_doc
from pertinent.config import load_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_precedence_defaults_env_overrides() -> None:
    assert load_settings().port == 8080
    assert load_settings({"PERTINENT_PORT": "9000"}).port == 9000
    assert load_settings({"PERTINENT_PORT": "9000"}, port=9100).port == 9100
    assert load_settings({"PERTINENT_DATA_DIR": "/tmp/x"}).data_dir == Path("/tmp/x")
    assert load_settings(port=None).port == 8080
    assert load_settings(data_dir=Path("/d")).db_url == "sqlite:////d/pertinent.db"


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(TypeError):
        load_settings(prot=1)


def test_settings_doc_is_current() -> None:
    assert DOC.read_text() == config_doc.render(), (
        "regenerate: python -m pertinent.config_doc > docs/settings.md"
    )


@pytest.mark.parametrize("target", ["0", "-0.5", "1.5", "nan"])
def test_serve_refuses_an_ann_target_recall_outside_0_1(tmp_path: Path, target: str) -> None:
    from click.testing import CliRunner

    from pertinent.cli import main

    result = CliRunner().invoke(
        main,
        ["serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
        env={"PERTINENT_ANN_TARGET_RECALL": target},
    )
    assert result.exit_code != 0
    assert "ann_target_recall must be in (0, 1]" in result.output
