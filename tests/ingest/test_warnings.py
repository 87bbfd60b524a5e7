"""The last poll's warnings are kept on the feed and shown by `feeds list` (issue 13.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.cli.main import main
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer, validated

CP1252 = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Caf\xe9</title>'
    "<link>https://e.example/</link><description>d</description>"
    "<item><title>R\xe9sum\xe9 du jour</title><link>https://e.example/1</link></item>"
    "</channel></rss>"
).encode("cp1252")  # declared UTF-8, written in cp1252


def _list(cfg: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(cfg), "feeds", "list", *extra]) == 0
    return capsys.readouterr().out


def test_warnings_are_stored_shown_and_replaced_by_the_next_parse(
    http_server: LoopbackServer,
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    make_agg: AggFactory,
) -> None:
    url = http_server.handle("/f.xml", validated(CP1252, etag='"a"'))
    cfg = write_config(tmp_path, [{"name": "cafe", "url": url}], database=db_url)
    with make_agg(cfg) as agg:
        [result] = agg.poll()
        assert any("decoded as cp1252" in w for w in result.warnings), result.warnings
    with make_agg(cfg) as agg:  # read back from the database
        [feed] = agg.feeds()
        assert any("decoded as cp1252" in w for w in feed.warnings), feed
    text = _list(cfg, capsys)
    assert "ok" in text.split("\n")[0] and "warning: " in text and "cp1252" in text
    [row] = json.loads(_list(cfg, capsys, "--json"))
    assert any("decoded as cp1252" in w for w in row["warnings"])
    with make_agg(cfg) as agg:
        [again] = agg.poll()  # 304: the same document, the same warnings
        assert again.not_modified
        assert agg.feeds()[0].warnings == feed.warnings
        fixed = CP1252.decode("cp1252").encode("utf-8")
        http_server.handle("/f.xml", validated(fixed, etag='"b"'))
        [clean] = agg.poll()
        assert clean.error is None and not clean.warnings
        assert agg.feeds()[0].warnings == ()
    assert "warning: " not in _list(cfg, capsys)
