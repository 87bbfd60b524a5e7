"""Deeply nested queries are a syntax error with a position, never a RecursionError."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.daemon.reload import ConfigWatcher
from aggregator.exceptions import QuerySyntaxError
from aggregator.query.syntax import MAX_DEPTH, parse_query

DEEP = "(" * 200 + "chips" + ")" * 200


@pytest.mark.parametrize(
    "query",
    [
        DEEP,
        "NOT " * 300 + "chips",
        "title:" * 300 + "chips",
        "a AND (b OR " * 200 + "c" + ")" * 200,
    ],
)
def test_deep_nesting_is_a_syntax_error_with_its_column(query: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    err = info.value
    assert "nested" in err.message
    assert 1 <= err.column <= len(query)
    assert err.hint


def test_nesting_up_to_the_limit_still_parses() -> None:
    query = "(" * MAX_DEPTH + "chips" + ")" * MAX_DEPTH
    assert parse_query(query).root == parse_query("chips").root
    with pytest.raises(QuerySyntaxError) as info:
        parse_query("(" + query + ")")
    assert info.value.column == MAX_DEPTH + 1


def _config(tmp_path: Path, query: str) -> Path:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "database: sqlite:///agg.db\n"
        "feeds:\n  - name: x\n    url: http://127.0.0.1:9/feed\n"
        f"topics:\n  - name: deep\n    query: '{query}'\n"
    )
    return cfg


def test_search_and_topics_list_report_it_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _config(tmp_path, "chips")
    assert main(["--config", str(good), "search", DEEP]) == 2
    err = capsys.readouterr().err
    assert "nested" in err and "Traceback" not in err

    bad = _config(tmp_path, DEEP)
    assert main(["--config", str(bad), "topics", "list"]) == 2
    err = capsys.readouterr().err
    assert "feeds.yaml:7" in err and "topics[0].query" in err and "nested" in err


def test_live_reload_reports_it_once_with_file_line_and_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(tmp_path, "chips")
    applied: list[object] = []
    watcher = ConfigWatcher(cfg, applied.append)
    cfg.write_text(cfg.read_text().replace("'chips'", f"'{DEEP}'"))
    with caplog.at_level(logging.ERROR, logger="aggregator.daemon"):
        first = watcher.poll()
        second = watcher.poll()
    assert first is not None and first.error is not None and second is None
    assert applied == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "feeds.yaml:7" in errors[0] and "topics[0].query" in errors[0]
