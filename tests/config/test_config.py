"""feeds.yaml loading: every bad input names file, line and key; exit code 2."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aggregator import ConfigError, load_config

GOOD = """\
database: sqlite:///agg.db
network:
  allow_private: [127.0.0.1/32]
defaults:
  interval: 15m
feeds:
  - name: le-monde
    url: https://www.lemonde.fr/rss/une.xml
    interval: 10m
    tags: [fr]
  - name: bbc
    url: https://feeds.bbci.co.uk/news/rss.xml
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "feeds.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    assert [f.name for f in cfg.feeds] == ["le-monde", "bbc"]
    assert cfg.feeds[0].interval == timedelta(minutes=10)
    assert cfg.feeds[1].interval is None and cfg.defaults.interval == timedelta(minutes=15)
    assert cfg.database_url() == f"sqlite:///{(tmp_path / 'agg.db').resolve()}"


@pytest.mark.parametrize(
    "old,new,line,key,words",
    [
        ("interval: 10m", "interval: 10 minutes", 9, "feeds[0].interval", "not a duration"),
        ("  - name: bbc", "  - name: le-monde", 11, "feeds[1].name", "duplicate"),
        (
            "    tags: [fr]",
            "    tags: [fr]\n    intervall: 5m",
            11,
            "feeds[0].intervall",
            "did you mean 'interval'",
        ),
        ("defaults:", "defaults:\n  extrct: true", 5, "defaults.extrct", "did you mean 'extract'"),
        ("url: https://www.lemonde.fr/rss/une.xml", "url: ftp://x", 8, "feeds[0].url", "http"),
        ("  - name: bbc", "  - name: BBC News", 11, "feeds[1].name", "lower-case"),
        (
            "allow_private: [127.0.0.1/32]",
            "allow_private: [127.0.0.1/99]",
            3,
            "network.allow_private",
            "network",
        ),
    ],
)
def test_bad_config_names_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, words: str
) -> None:
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    e = info.value
    assert e.exit_code == 2
    assert e.key is not None and e.key.startswith(key)
    assert e.line == line
    assert str(path) in str(e)
    assert words in f"{e} {e.hint}"


def test_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEED_HOST", "example.org")
    text = GOOD.replace("www.lemonde.fr", "${FEED_HOST}").replace(
        "feeds.bbci.co.uk", "${MISSING_HOST:-bbc.example}"
    )
    cfg = load_config(_write(tmp_path, text))
    assert cfg.feeds[0].url == "https://example.org/rss/une.xml"
    assert cfg.feeds[1].url == "https://bbc.example/news/rss.xml"


def test_unset_env_var_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, GOOD.replace("www.lemonde.fr", "${NOPE_SECRET}")))
    assert "NOPE_SECRET" in str(info.value) and info.value.line == 8


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "feeds: [\n  - name: x\n"))
    assert "invalid YAML" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value)


def test_topic_query_syntax_error_points_at_column(tmp_path: Path) -> None:
    text = GOOD + "topics:\n  - name: t\n    query: '(chips AND'\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert info.value.key == "topics[0].query" and "column" in str(info.value)


def test_unknown_alert_kind_and_topic_reference(tmp_path: Path) -> None:
    text = GOOD + "alerts:\n  - name: x\n    kind: pager\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert "unknown alert kind" in str(info.value) and info.value.key == "alerts[0].kind"


def test_bundled_starter_config_is_valid() -> None:
    cfg = load_config(Path(__file__).resolve().parents[2] / "feeds.yaml")
    assert len(cfg.feeds) >= 12
    tags = {t for f in cfg.feeds for t in f.tags}
    assert {"en", "fr", "de"} <= tags
    assert "export-controls" in {t.name for t in cfg.topics}
