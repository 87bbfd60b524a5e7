"""Feed credentials never leave through the Google Reader API (issue 13, item 9).

A feed URL with ``user:pass@`` or a secret query parameter is shown redacted in
every answer (subscription list, unread counts, stream ids, items' origins, Atom
streams and their self links, quickadd), while a client can still address the
stream by the id it was given, and the owner by the full URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from aggregator import make_aggregator
from aggregator.web.app import create_app
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.greader import API, Z, auth, get_json, login, rss
from tests.support.httpserver import LoopbackServer

SECRETS = ("pw-SECRET-1", "tok-SECRET-2", "tok-SECRET-3", "sig-SECRET-4")


@dataclass
class Reader:
    client: TestClient
    token: str
    server: LoopbackServer
    urls: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        return get_json(self.client, self.token, path, **params)

    def raw(self, path: str, **params: Any) -> str:
        r = self.client.get(path, params=params, headers=auth(self.token))
        assert r.status_code == 200, r.text
        return r.text


@pytest.fixture
def reader(http_server: LoopbackServer, tmp_path: Path) -> Iterator[Reader]:
    port = http_server.url("/").split(":")[2].split("/")[0]
    for path, prefix in (("/private.xml", "p"), ("/tok.xml", "t"), ("/plain.xml", "n")):
        stories = [
            (f"https://news.example.org/{prefix}{i}", f"Story {prefix}{i}", "b") for i in range(2)
        ]
        http_server.route(path, rss(stories), content_type="application/rss+xml")
    urls = {
        "private": f"http://alice:{SECRETS[0]}@127.0.0.1:{port}/private.xml",
        "tokened": f"http://127.0.0.1:{port}/tok.xml?token={SECRETS[1]}",
        # differs from the one above only in its secret: both redact alike
        "tokened-2": f"http://127.0.0.1:{port}/tok.xml?token={SECRETS[2]}",
        "plain": f"http://127.0.0.1:{port}/plain.xml",
    }
    feeds = [{"name": n, "url": u, "tags": ["news"]} for n, u in urls.items()]
    cfg = write_config(tmp_path, feeds, web={"users": [{"name": "desk", "password": "s3cret"}]})
    agg = make_aggregator(cfg, clock=Clock(), extract_workers=0)
    agg.poll()
    try:
        with TestClient(create_app(agg)) as client:
            yield Reader(client, login(client), http_server, urls)
    finally:
        agg.close()


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert quote(secret) not in text


def test_subscriptions_unread_counts_and_streams_show_no_secret(reader: Reader) -> None:
    subs = reader.get("/subscription/list")["subscriptions"]
    feeds = {s["sortid"]: s for s in subs if s["id"].startswith("feed/")}
    _clean(str(subs))
    port = reader.urls["plain"].split(":")[2].split("/")[0]
    assert feeds["private"]["id"] == f"feed/http://alice:***@127.0.0.1:{port}/private.xml"
    assert feeds["private"]["url"] == feeds["private"]["id"].removeprefix("feed/")
    assert feeds["private"]["htmlUrl"] == f"http://127.0.0.1:{port}/"
    assert feeds["tokened"]["id"] == f"feed/http://127.0.0.1:{port}/tok.xml?token=***"
    assert feeds["tokened-2"]["id"] == feeds["tokened"]["id"] + "#tokened-2"  # kept apart
    assert feeds["plain"]["id"] == "feed/" + reader.urls["plain"]  # nothing to hide: as before
    assert len({s["id"] for s in feeds.values()}) == 4

    counts = reader.get("/unread-count")["unreadcounts"]
    _clean(str(counts))
    assert {c["id"] for c in counts} >= {s["id"] for s in feeds.values()}

    everything = reader.get("/stream/contents/user/-/state/com.google/reading-list", n=50)
    _clean(str(everything))
    origins = {i["origin"]["title"]: i["origin"] for i in everything["items"]}
    assert origins["private"]["streamId"] == feeds["private"]["id"]
    assert origins["tokened"]["streamId"] == feeds["tokened"]["id"]
    _clean(reader.raw(API + "/reader/atom/user/-/state/com.google/reading-list", n=50))


@pytest.mark.parametrize("name", ["private", "tokened", "tokened-2"])
def test_a_redacted_stream_id_addresses_its_feed_and_so_does_the_full_url(
    reader: Reader, name: str
) -> None:
    subs = reader.get("/subscription/list")["subscriptions"]
    sid = next(s["id"] for s in subs if s["sortid"] == name)
    titles = {f"Story {name[0]}0", f"Story {name[0]}1"}
    for given in (sid, "feed/" + reader.urls[name]):  # the id handed out; the owner's URL
        by_path = reader.get("/stream/contents/" + quote(given, safe=""), n=10)
        by_param = reader.get("/stream/contents", s=given, n=10)
        for answer in (by_path, by_param):
            assert answer["id"] == sid  # answered with the redacted id, whatever was asked
            assert {i["title"] for i in answer["items"]} == titles
            _clean(str(answer))
        ids = reader.get("/stream/items/ids", s=given, n=10)["itemRefs"]
        assert len(ids) == 2
        body = reader.raw(API + "/reader/atom/" + quote(given, safe=""), n=10)
        _clean(body)  # the stream id, the self link and the entries' sources
        assert body.count("<entry") == 2


def test_quickadd_and_errors_do_not_echo_a_secret(reader: Reader) -> None:
    token = reader.client.get(Z + "/token", headers=auth(reader.token)).text.strip()
    port = reader.urls["plain"].split(":")[2].split("/")[0]
    reader.server.route(
        "/new.xml", rss([("https://n.example/1", "New", "b")]), content_type="application/rss+xml"
    )
    url = f"http://127.0.0.1:{port}/new.xml?api_key={SECRETS[3]}"
    r = reader.client.post(
        Z + "/subscription/quickadd", data={"quickadd": url, "T": token}, headers=auth(reader.token)
    )
    assert r.status_code == 200, r.text
    _clean(r.text)
    assert r.json()["streamId"] == f"feed/http://127.0.0.1:{port}/new.xml?api_key=***"
    assert (
        reader.get("/stream/contents", s=r.json()["streamId"], n=5)["items"] == []
    )  # not polled yet

    missing = f"http://127.0.0.1:{port}/missing.xml?token={SECRETS[3]}"
    r = reader.client.post(
        Z + "/subscription/quickadd",
        data={"quickadd": missing, "T": token},
        headers=auth(reader.token),
    )
    assert r.status_code == 400 and "404" in r.text
    _clean(r.text)
    r = reader.client.get(
        Z + "/stream/contents", params={"s": f"feed/{missing}"}, headers=auth(reader.token)
    )
    assert r.status_code == 404
    _clean(r.text)
