"""What a new user tripped on (issue 14), tried through the real `aggregator` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aggregator import make_aggregator
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

ATOM_UPDATED_ONLY = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Only updated</title><id>urn:x</id><updated>2025-02-03T10:00:00Z</updated>
  <entry><title>Old story</title><id>urn:x:1</id><link href="{base}/1.html"/>
    <updated>2025-02-03T09:30:00Z</updated><summary>one</summary></entry>
  <entry><title>Dated story</title><id>urn:x:2</id><link href="{base}/2.html"/>
    <published>2025-02-01T08:00:00Z</published><updated>2025-02-03T09:45:00Z</updated>
    <summary>two</summary></entry>
</feed>
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command, in a fresh interpreter, as a user runs it."""
    env = {**os.environ, "PYTHONUTF8": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_atom_updated_only_is_the_published_date(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    base = http_server.url("")
    http_server.route(
        "/atom.xml", ATOM_UPDATED_ONLY.format(base=base), content_type="application/atom+xml"
    )
    cfg = write_config(tmp_path, [{"name": "atom", "url": http_server.url("/atom.xml")}])
    with make_aggregator(cfg) as agg:
        [result] = agg.poll()
        assert result.error is None and result.new == 2
    done = cli("--config", str(cfg), "items", "list", "--json")
    assert done.returncode == 0, done.stderr
    items = {i["title"]: i for i in json.loads(done.stdout)}
    assert items["Old story"]["published"].startswith("2025-02-03T09:30:00")
    assert items["Old story"]["published_source"] == "updated"
    assert items["Dated story"]["published"].startswith("2025-02-01T08:00:00")
    assert items["Dated story"]["published_source"] == "published"
    since = cli("--config", str(cfg), "items", "list", "--json", "--published-since", "2025-02-02")
    assert [i["title"] for i in json.loads(since.stdout)] == ["Old story"]
    helptext = cli("items", "list", "--help").stdout
    assert "first seen" in helptext and "--published-since" in helptext
