"""The desk's Sources page shows feed and page-watch URLs without their credentials."""

from __future__ import annotations

from pathlib import Path

import httpx

from aggregator import make_aggregator
from aggregator.web.serve import WebServer
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer
from tests.web.conftest import off_loop

SECRETS = ("s3cr3t-pass", "K3Y-v4lue", "W4TCH-t0ken")


def test_sources_page_masks_credentials(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.route("/feed.xml", b"down", status=500)
    feed = f"http://desk:s3cr3t-pass@127.0.0.1:{http_server.port}/feed.xml?api_key=K3Y-v4lue"
    page = f"http://127.0.0.1:{http_server.port}/page?token=W4TCH-t0ken"
    cfg = write_config(
        tmp_path, [{"name": "wire", "url": feed}], watches=[{"name": "notice", "url": page}]
    )
    agg = make_aggregator(cfg, extract_workers=0)
    web = None
    try:
        off_loop(agg.poll)
        web = WebServer(agg, "127.0.0.1", 0).start()
        r = httpx.get(web.url + "/feeds", timeout=10)
    finally:
        if web is not None:
            web.close()
        agg.close()
    assert r.status_code == 200
    assert "desk:***@127.0.0.1" in r.text and "api_key=***" in r.text and "token=***" in r.text
    assert [s for s in SECRETS if s in r.text] == []
