"""`demo --out DIR` never overwrites a desk's own feeds.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli.demo import DEMO_MARK, demo_config, refuse_foreign_config
from aggregator.cli.main import main

DESK = "# our newsroom's config\ndatabase: sqlite:///desk.db\nfeeds: []\n"


def test_demo_refuses_a_folder_with_a_feeds_yaml_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "feeds.yaml").write_text(DESK)
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "not overwriting" in err and "hint:" in err
    assert (tmp_path / "feeds.yaml").read_text() == DESK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]  # nothing else written


def test_a_previous_demo_config_may_be_rewritten(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    refuse_foreign_config(cfg)  # absent: fine
    cfg.write_text(demo_config("http://127.0.0.1:1", tmp_path))
    assert cfg.read_text().startswith(DEMO_MARK + "\n")
    refuse_foreign_config(cfg)  # the demo's own: fine
