"""Nothing lost on bad characters, nothing failing silently (issue 13.1).

A NUL in one item's title or description made PostgreSQL refuse the write, and the
feed's other items were lost with it while `feeds list` said `ok`. Text is made
storable once where it enters (the parsed feed, the extracted page), and any
unexpected failure of a poll is a recorded failure: error count, last error,
backoff — the same for a full disk.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from aggregator.cli.main import main
from tests.support.aggregators import AggFactory
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

BAD = "\x00\x01\x1f\ufffe"


def _json_feed(n: int, bad_at: int) -> bytes:
    items = [
        {
            "id": f"item-{i}",
            "url": f"https://news.example.org/{i}",
            "title": f"Story {i}" + (f" with{BAD}bad characters" if i == bad_at else ""),
            "content_text": f"Text of story {i}" + (f" and a NUL{BAD} here" if i == bad_at else ""),
        }
        for i in range(n)
    ]
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Wire", "items": items}
    return json.dumps(feed).encode()


def _rss_feed(n: int, bad_at: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}{' with' + BAD[:2] + 'bad' if i == bad_at else ''}</title>"
        f"<link>https://news.example.org/{i}</link><guid>item-{i}</guid>"
        f"<description>Text of story {i}{BAD[:1] if i == bad_at else ''}</description></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://news.example.org/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize("kind", ["json", "rss"])
def test_bad_characters_in_one_item_lose_nothing(
    http_server: LoopbackServer, tmp_path: Path, db_url: str, kind: str, make_agg: AggFactory
) -> None:
    body = _json_feed(10, 3) if kind == "json" else _rss_feed(10, 3)
    ctype = "application/feed+json" if kind == "json" else "application/rss+xml"
    url = http_server.route("/wire", body, content_type=ctype)
    cfg = write_config(tmp_path, [{"name": "wire", "url": url}], database=db_url)
    with make_agg(cfg) as agg:
        [result] = agg.poll()
        assert result.error is None, result.error
        stored = {a.title: agg.article(a.id) for a in agg.articles(limit=50)}
        [feed] = agg.feeds()
    assert len(stored) == 10
    bad = next(a for t, a in stored.items() if t and t.startswith("Story 3"))
    assert bad.title is not None and bad.text is not None
    for value in (bad.title, bad.text, bad.summary or ""):
        assert not any(c in value for c in BAD), repr(value)
    assert "bad" in (bad.title or "")
    assert feed.error_count == 0 and feed.last_error is None


def _break_article_inserts(db_url: str, agg: object) -> None:
    """A real database failure on the next article insert: what a full disk looks like."""
    engine = agg.store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER fake_disk_full BEFORE INSERT ON article "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION fake_disk_full() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device' "
                    "USING ERRCODE = 'disk_full'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER fake_disk_full BEFORE INSERT ON article "
                    "FOR EACH ROW EXECUTE FUNCTION fake_disk_full()"
                )
            )


def test_an_unexpected_failure_is_recorded_with_backoff_and_shown(
    http_server: LoopbackServer,
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    make_agg: AggFactory,
) -> None:
    url = http_server.route("/wire", _json_feed(4, -1), content_type="application/feed+json")
    cfg = write_config(tmp_path, [{"name": "wire", "url": url}], database=db_url)
    with make_agg(cfg) as agg:
        _break_article_inserts(db_url, agg)
        [result] = agg.poll()
        [feed] = agg.feeds()
    assert result.error and result.new == 0
    assert feed.error_count == 1, feed
    assert feed.last_error and ("full" in feed.last_error or "space" in feed.last_error)
    assert feed.next_due_at is not None and feed.next_due_at > datetime.now(UTC)
    capsys.readouterr()
    assert main(["--config", str(cfg), "feeds", "list"]) == 0
    listed = capsys.readouterr().out
    assert "error" in listed.split("\n")[0] and "last error:" in listed
    assert main(["--config", str(cfg), "feeds", "list", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["error_count"] == 1 and row["last_error"] == feed.last_error


def test_storable_drops_what_a_backend_refuses_and_keeps_the_rest() -> None:
    from aggregator.parse.records import storable

    assert storable("a\x00b\x01c\x0bd") == "abcd"
    assert storable("lone \ud800 surrogate") == "lone \ufffd surrogate"
    assert (
        storable("tab\tnew\nline\rreturn é 中文 \u202e") == "tab\tnew\nline\rreturn é 中文 \u202e"
    )
    assert storable(None) is None and storable("") == ""
