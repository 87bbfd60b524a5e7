"""The Google Reader API over HTTP: every endpoint, against a polled loopback site."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from aggregator import make_aggregator
from aggregator.web.app import create_app
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.greader import API, Z, auth, get_json, login, rss
from tests.support.httpserver import LoopbackServer


@dataclass
class Desk:
    client: TestClient
    agg: Any
    server: LoopbackServer
    config: Path
    clock: Clock
    token: str

    def get(self, path: str, **params: Any) -> Any:
        return get_json(self.client, self.token, path, **params)

    def post(self, path: str, data: Any, token: str | None = None) -> Any:
        return self.client.post(Z + path, data=data, headers=auth(token or self.token))


USERS = [{"name": "desk", "password": "s3cret"}, {"name": "night", "password": "owl"}]


def _stories(n: int, prefix: str = "s") -> list[tuple[str, str, str]]:
    return [
        (
            f"https://news.example.org/{prefix}{i}",
            f"Story {prefix}{i}",
            f"Body of story {prefix}{i} about trade.",
        )
        for i in range(n)
    ]


@pytest.fixture
def desk(http_server: LoopbackServer, tmp_path: Path, db_url: str) -> Iterator[Desk]:
    http_server.route("/world.xml", rss(_stories(5, "w")), content_type="application/rss+xml")
    http_server.route(
        "/chips.xml",
        rss(
            [
                (
                    "https://news.example.org/nvidia",
                    "Nvidia chips face export controls",
                    "Washington tightens export controls on AI chips.",
                ),
                ("https://news.example.org/weather", "Sunny weekend", "No news about chips here."),
            ],
            title="Chips daily",
        ),
        content_type="application/rss+xml",
    )
    feeds = [
        {"name": "world", "url": http_server.url("/world.xml"), "tags": ["world"]},
        {
            "name": "chips",
            "url": http_server.url("/chips.xml"),
            "tags": ["tech", "world"],
            "title": "Chips Daily",
        },
    ]
    topics = [{"name": "export-controls", "query": '"export controls"'}]
    # a feed document of 1,000+ stories is read whole here (the default cap is 500)
    cfg = write_config(
        tmp_path,
        feeds,
        topics=topics,
        web={"users": USERS},
        defaults={"max_items": 2000},
        database=db_url,
    )
    clock = Clock(datetime(2025, 2, 3, 13, 0, tzinfo=UTC))
    agg = make_aggregator(cfg, clock=clock, extract_workers=0)
    agg.poll()
    with TestClient(create_app(agg)) as client:
        yield Desk(client, agg, http_server, cfg, clock, login(client))
    agg.close()


# ------------------------------------------------------------------------ auth


def test_login_gives_a_token_that_every_call_needs(desk: Desk) -> None:
    r = desk.client.get(Z + "/subscription/list", params={"output": "json"})
    assert r.status_code == 401
    r = desk.client.get(Z + "/subscription/list", headers=auth("not-a-token"))
    assert r.status_code == 401
    r = desk.client.get(Z + "/subscription/list", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401
    assert desk.get("/subscription/list")["subscriptions"]


def test_wrong_credentials_get_the_same_401(desk: Desk) -> None:
    answers = []
    for user, password in (("desk", "wrong"), ("nobody", "s3cret"), ("", ""), ("desk", "")):
        r = desk.client.post(
            API + "/accounts/ClientLogin", data={"Email": user, "Passwd": password}
        )
        answers.append((r.status_code, r.text))
    assert set(answers) == {(401, "Error=BadAuthentication\n")}


def test_tokens_are_stored_hashed_and_revocable(desk: Desk) -> None:
    with desk.agg.store.engine.connect() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT token_hash FROM reader_token")]
    assert stored and desk.token not in stored and all(len(h) == 64 for h in stored)
    other = login(desk.client, "night", "owl")
    assert desk.agg.revoke_reader_tokens(user="desk") == 1
    assert [t.user for t in desk.agg.reader_tokens() if t.revoked_at is None] == ["night"]
    r = desk.client.get(Z + "/tag/list", headers=auth(desk.token))
    assert r.status_code == 401
    assert get_json(desk.client, other, "/tag/list")["tags"]


def test_post_token_is_checked_when_given(desk: Desk) -> None:
    t = desk.client.get(Z + "/token", headers=auth(desk.token))
    assert t.status_code == 200 and len(t.text.strip()) == 57
    item = desk.get("/stream/items/ids", s="user/-/state/com.google/reading-list", n=1)["itemRefs"][
        0
    ]["id"]
    bad = desk.post("/edit-tag", {"i": item, "a": "user/-/state/com.google/read", "T": "forged"})
    assert bad.status_code == 401 and bad.headers["X-Reader-Google-Bad-Token"] == "true"
    ok = desk.post(
        "/edit-tag", {"i": item, "a": "user/-/state/com.google/read", "T": t.text.strip()}
    )
    assert ok.status_code == 200 and ok.text == "OK"
    other = login(desk.client, "night", "owl")
    stolen = desk.post(
        "/edit-tag",
        {"i": item, "a": "user/-/state/com.google/read", "T": t.text.strip()},
        token=other,
    )
    assert stolen.status_code == 401


# ------------------------------------------------------------------------ lists

RL = "user/-/state/com.google/reading-list"
READ = "user/-/state/com.google/read"
STARRED = "user/-/state/com.google/starred"
TOPIC = "user/-/label/topic:export-controls"


def _titles(data: Any) -> list[str]:
    return [i["title"] for i in data["items"]]


def test_subscription_list_has_feeds_and_topics(desk: Desk) -> None:
    subs = {s["id"]: s for s in desk.get("/subscription/list", output="json")["subscriptions"]}
    chips = subs[f"feed/{desk.server.url('/chips.xml')}"]
    assert chips["title"] == "Chips Daily"
    assert {c["id"] for c in chips["categories"]} == {"user/-/label/tech", "user/-/label/world"}
    assert {c["label"] for c in chips["categories"]} == {"tech", "world"}
    assert chips["url"] == desk.server.url("/chips.xml")
    assert subs[TOPIC]["title"] == "Topic: export-controls"
    assert subs[f"feed/{desk.server.url('/world.xml')}"]["title"] == "world"


def test_tag_list(desk: Desk) -> None:
    ids = [t["id"] for t in desk.get("/tag/list", output="json")["tags"]]
    assert ids == [STARRED, "user/-/label/tech", "user/-/label/world", TOPIC]


def test_unread_count_per_feed_label_topic_and_total(desk: Desk) -> None:
    counts = {c["id"]: c["count"] for c in desk.get("/unread-count", output="json")["unreadcounts"]}
    assert counts == {
        f"feed/{desk.server.url('/world.xml')}": 5,
        f"feed/{desk.server.url('/chips.xml')}": 2,
        "user/-/label/world": 7,
        "user/-/label/tech": 2,
        TOPIC: 1,
        RL: 7,
    }
    item = desk.get("/stream/contents/" + TOPIC)["items"][0]["id"]
    assert desk.post("/edit-tag", {"i": item, "a": READ}).text == "OK"
    counts = {c["id"]: c["count"] for c in desk.get("/unread-count")["unreadcounts"]}
    assert TOPIC not in counts and counts[RL] == 6 and counts["user/-/label/tech"] == 1


# ------------------------------------------------------------------------ streams


def test_each_stream_kind(desk: Desk) -> None:
    chips = f"feed/{desk.server.url('/chips.xml')}"
    assert len(desk.get("/stream/contents/" + RL)["items"]) == 7
    assert len(desk.get("/stream/contents/reading-list")["items"]) == 7
    assert sorted(_titles(desk.get("/stream/contents/" + chips))) == [
        "Nvidia chips face export controls",
        "Sunny weekend",
    ]
    assert len(desk.get("/stream/contents/user/-/label/tech")["items"]) == 2
    assert len(desk.get("/stream/contents/user/-/label/world")["items"]) == 7
    assert _titles(desk.get("/stream/contents/" + TOPIC)) == ["Nvidia chips face export controls"]
    assert desk.get("/stream/contents/" + STARRED)["items"] == []
    assert desk.get("/stream/contents/" + READ)["items"] == []
    assert desk.get("/stream/contents", s=TOPIC)["id"] == TOPIC
    r = desk.client.get(Z + "/stream/contents/user/-/label/topic:nope", headers=auth(desk.token))
    assert r.status_code == 404


def test_item_json_shape(desk: Desk) -> None:
    [item] = desk.get("/stream/contents/" + TOPIC)["items"]
    assert item["id"].startswith("tag:google.com,2005:reader/item/")
    assert len(item["id"].rsplit("/", 1)[1]) == 16
    assert item["alternate"] == [{"href": "https://news.example.org/nvidia", "type": "text/html"}]
    assert item["origin"]["streamId"] == f"feed/{desk.server.url('/chips.xml')}"
    assert item["origin"]["title"] == "Chips Daily"
    assert set(item["categories"]) >= {RL, "user/-/label/tech", TOPIC}
    assert item["timestampUsec"].isdigit() and item["crawlTimeMsec"] == item["timestampUsec"][:-3]
    assert isinstance(item["published"], int)
    html = item["summary"]["content"]
    assert "Washington tightens export controls" in html
    assert '<a href="https://news.example.org/nvidia"' in html


def test_feed_stream_id_escaped_in_the_path(desk: Desk) -> None:
    from urllib.parse import quote

    sid = f"feed/{desk.server.url('/chips.xml')}"
    r = desk.client.get(Z + "/stream/contents/" + quote(sid, safe=""), headers=auth(desk.token))
    assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_both_id_forms_name_the_same_item(desk: Desk) -> None:
    refs = desk.get("/stream/items/ids", s=TOPIC)["itemRefs"]
    short = refs[0]["id"]
    assert short.isdigit()
    long = "tag:google.com,2005:reader/item/" + f"{int(short):016x}"
    for form in (short, long):
        r = desk.client.post(
            Z + "/stream/items/contents", data={"i": form}, headers=auth(desk.token)
        )
        assert r.status_code == 200
        assert _titles(r.json()) == ["Nvidia chips face export controls"]
        assert r.json()["items"][0]["id"] == long
    both = desk.client.post(
        Z + "/stream/items/contents", data={"i": [short, refs[0]["id"]]}, headers=auth(desk.token)
    ).json()
    assert len(both["items"]) == 1
    foreign = "tag:google.com,2005:reader/item/" + f"{(int(short) ^ (1 << 45)):016x}"
    none = desk.client.post(
        Z + "/stream/items/contents", data={"i": foreign}, headers=auth(desk.token)
    ).json()
    assert none["items"] == []


def test_item_ids_are_stable_across_restarts(desk: Desk) -> None:
    before = [r["id"] for r in desk.get("/stream/items/ids", s=RL, n=100)["itemRefs"]]
    desk.client.close()
    desk.agg.close()
    with make_aggregator(desk.config, extract_workers=0) as again:
        client = TestClient(create_app(again))
        token = login(client)  # the old token still works too: it is in the database
        for t in (token, desk.token):
            refs = get_json(client, t, "/stream/items/ids", s=RL, n=100)["itemRefs"]
            assert [r["id"] for r in refs] == before


# ------------------------------------------------------------------------ state


def test_edit_tag_round_trips(desk: Desk) -> None:
    ids = [r["id"] for r in desk.get("/stream/items/ids", s=RL, n=3)["itemRefs"]]
    assert desk.post("/edit-tag", {"i": ids, "a": [READ, STARRED]}).text == "OK"
    read = desk.get("/stream/items/ids", s=READ)["itemRefs"]
    assert sorted(r["id"] for r in read) == sorted(ids)
    starred = desk.get("/stream/contents/" + STARRED)["items"]
    assert len(starred) == 3 and all(READ in i["categories"] for i in starred)
    unread = desk.get("/stream/items/ids", s=RL, xt=READ, n=100)["itemRefs"]
    assert len(unread) == 4 and not set(ids) & {r["id"] for r in unread}
    assert desk.post("/edit-tag", {"i": ids[0], "r": READ}).text == "OK"
    assert (
        desk.post(
            "/edit-tag", {"i": ids[1], "a": "user/-/state/com.google/kept-unread", "r": STARRED}
        ).text
        == "OK"
    )
    read = {r["id"] for r in desk.get("/stream/items/ids", s=READ)["itemRefs"]}
    assert read == {ids[2]}
    starred = {r["id"] for r in desk.get("/stream/items/ids", s=STARRED)["itemRefs"]}
    assert starred == {ids[0], ids[2]}
    assert desk.post("/edit-tag", {"a": READ}).status_code == 400


def test_state_is_per_user(desk: Desk) -> None:
    night = login(desk.client, "night", "owl")
    item = desk.get("/stream/items/ids", s=RL, n=1)["itemRefs"][0]["id"]
    desk.post("/edit-tag", {"i": item, "a": READ})
    assert len(desk.get("/stream/items/ids", s=READ)["itemRefs"]) == 1
    assert get_json(desk.client, night, "/stream/items/ids", s=READ)["itemRefs"] == []


def test_mark_all_as_read_with_ts(desk: Desk) -> None:
    world = f"feed/{desk.server.url('/world.xml')}"
    desk.clock.now += timedelta(hours=1)
    desk.server.route("/world.xml", rss(_stories(8, "w")), content_type="application/rss+xml")
    desk.agg.poll()
    cut = int((desk.clock.now - timedelta(minutes=30)).timestamp() * 1_000_000)
    assert desk.post("/mark-all-as-read", {"s": world, "ts": str(cut)}).text == "OK"
    unread = desk.get("/stream/contents/" + world, xt=READ)["items"]
    assert sorted(_titles({"items": unread})) == ["Story w5", "Story w6", "Story w7"]
    assert desk.post("/mark-all-as-read", {"s": TOPIC}).text == "OK"
    counts = {c["id"]: c["count"] for c in desk.get("/unread-count")["unreadcounts"]}
    assert TOPIC not in counts and counts[RL] == 4


# ------------------------------------------------------------------------ paging and filters


def test_continuation_over_1000_stories_while_new_ones_arrive(desk: Desk) -> None:
    desk.server.route(
        "/wire.xml", rss(_stories(1000, "x"), title="Wire"), content_type="application/rss+xml"
    )
    _add_feed(desk, "wire", "/wire.xml")
    desk.clock.now += timedelta(minutes=5)
    assert desk.agg.poll(["wire"])[0].new == 1000
    total = 1007
    for params in ({"s": RL}, {"s": RL, "r": "o"}):
        seen: list[str] = []
        cont: str | None = None
        pages = 0
        while True:
            extra = {"c": cont} if cont else {}
            data = desk.get("/stream/items/ids", n=150, **params, **extra)
            seen += [r["id"] for r in data["itemRefs"]]
            pages += 1
            if pages == 2:  # stories arrive between two pages
                desk.server.route(
                    "/wire.xml",
                    rss(
                        _stories(1000, "x") + _stories(20, f"late{params.get('r', 'n')}"),
                        title="Wire",
                    ),
                    content_type="application/rss+xml",
                )
                desk.clock.now += timedelta(minutes=5)
                desk.agg.poll(["wire"])
            cont = data.get("continuation")
            if not cont:
                break
        numbers = [int(i) for i in seen]
        assert len(set(numbers)) == len(numbers)
        assert numbers == sorted(numbers, reverse=params.get("r") != "o")
        if params.get("r") == "o":
            assert len(numbers) == total + 20  # oldest first: the late ones come at the end
        else:
            assert len(numbers) == total  # newest first: they land before page 1
        total += 20
    contents = desk.get("/stream/contents/" + RL, n=1000)
    assert len(contents["items"]) == 1000 and contents["continuation"]
    rest = desk.get("/stream/contents/" + RL, n=1000, c=contents["continuation"])
    assert len(rest["items"]) == total - 1000 and "continuation" not in rest
    assert (
        desk.client.get(
            Z + "/stream/contents/" + RL, params={"c": "zz"}, headers=auth(desk.token)
        ).status_code
        == 400
    )


def _add_feed(desk: Desk, name: str, path: str) -> None:
    import yaml

    data = yaml.safe_load(desk.config.read_text())
    data["feeds"].append({"name": name, "url": desk.server.url(path)})
    desk.config.write_text(yaml.safe_dump(data))
    from aggregator.config import load_config

    desk.agg.reload(load_config(desk.config))


def test_ot_nt_xt_it_filters(desk: Desk) -> None:
    first = desk.clock.now
    desk.clock.now += timedelta(hours=2)
    desk.server.route("/world.xml", rss(_stories(7, "w")), content_type="application/rss+xml")
    desk.agg.poll()
    later = {"Story w5", "Story w6"}
    ot = int((first + timedelta(hours=1)).timestamp())
    assert set(_titles(desk.get("/stream/contents/" + RL, ot=ot))) == later
    assert len(desk.get("/stream/contents/" + RL, nt=ot)["items"]) == 7
    ids = {i["title"]: i["id"] for i in desk.get("/stream/contents/" + RL, n=50)["items"]}
    desk.post(
        "/edit-tag",
        {"i": [ids["Story w5"], ids["Nvidia chips face export controls"]], "a": STARRED},
    )
    desk.post("/edit-tag", {"i": ids["Story w5"], "a": READ})
    assert _titles(desk.get("/stream/contents/" + RL, it=STARRED, xt=READ)) == [
        "Nvidia chips face export controls"
    ]
    assert set(_titles(desk.get("/stream/contents/" + RL, xt=READ, ot=ot))) == {"Story w6"}
    assert _titles(desk.get("/stream/contents/user/-/label/world", it=TOPIC)) == [
        "Nvidia chips face export controls"
    ]
    r = desk.client.get(
        Z + "/stream/contents/user/-/label/world", params={"xt": TOPIC}, headers=auth(desk.token)
    )
    assert r.status_code == 400 and "only the read, starred" in r.text
    ids_only = desk.get("/stream/items/ids", s=STARRED, xt=READ)["itemRefs"]
    assert len(ids_only) == 1


# ------------------------------------------------------------------------ subscriptions

COMMENT = "# the desk's feeds: keep this comment\n"


def _commented(desk: Desk) -> None:
    desk.config.write_text(
        COMMENT
        + desk.config.read_text().replace("feeds:\n", "feeds:\n  # wire services below\n", 1)
    )
    from aggregator.config.models import load_config

    desk.agg.reload(load_config(desk.config))


def test_quickadd_lands_in_feeds_yaml_with_comments_kept(desk: Desk) -> None:
    _commented(desk)
    desk.server.route(
        "/new.xml",
        rss(_stories(3, "n"), title="Newcomer Gazette"),
        content_type="application/rss+xml",
    )
    desk.server.route(
        "/home",
        '<html><head><link rel="alternate" type="application/rss+xml" '
        'href="/new.xml"></head><body>home</body></html>',
    )
    r = desk.post("/subscription/quickadd", {"quickadd": desk.server.url("/home")})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "numResults": 1,
        "query": desk.server.url("/home"),
        "streamId": f"feed/{desk.server.url('/new.xml')}",
        "streamName": "Newcomer Gazette",
    }
    text = desk.config.read_text()
    assert text.startswith(COMMENT) and "# wire services below" in text
    assert "name: newcomer-gazette" in text and desk.server.url("/new.xml") in text
    subs = {s["id"] for s in desk.get("/subscription/list")["subscriptions"]}
    assert f"feed/{desk.server.url('/new.xml')}" in subs
    desk.agg.poll(["newcomer-gazette"])
    assert len(desk.get(f"/stream/contents/feed/{desk.server.url('/new.xml')}")["items"]) == 3


def test_quickadd_of_a_private_address_is_refused_by_the_ssrf_guard(desk: Desk) -> None:
    _commented(desk)
    before = desk.config.read_text()
    r = desk.post("/subscription/quickadd", {"quickadd": "http://127.0.0.2/"})
    assert r.status_code == 400
    body = r.json()
    assert body["numResults"] == 0 and "127.0.0.2" in body["error"]
    assert "allow_private" in body["error"]
    assert desk.config.read_text() == before
    r = desk.post("/subscription/quickadd", {"quickadd": desk.server.url("/missing.xml")})
    assert r.status_code == 400 and desk.config.read_text() == before


def test_subscription_edit_subscribe_edit_unsubscribe(desk: Desk) -> None:
    _commented(desk)
    desk.server.route("/third.xml", rss(_stories(2, "t")), content_type="application/rss+xml")
    sid = f"feed/{desk.server.url('/third.xml')}"
    ok = desk.post(
        "/subscription/edit",
        {"ac": "subscribe", "s": sid, "t": "Third Wire", "a": "user/-/label/wires"},
    )
    assert ok.text == "OK", ok.text
    subs = {s["id"]: s for s in desk.get("/subscription/list")["subscriptions"]}
    assert subs[sid]["title"] == "Third Wire"
    assert [c["label"] for c in subs[sid]["categories"]] == ["wires"]
    ok = desk.post(
        "/subscription/edit",
        {
            "ac": "edit",
            "s": sid,
            "t": "Wire Three",
            "a": "user/-/label/world",
            "r": "user/-/label/wires",
        },
    )
    assert ok.text == "OK"
    subs = {s["id"]: s for s in desk.get("/subscription/list")["subscriptions"]}
    assert subs[sid]["title"] == "Wire Three"
    assert [c["label"] for c in subs[sid]["categories"]] == ["world"]
    assert "# wire services below" in desk.config.read_text()
    assert desk.post("/subscription/edit", {"ac": "unsubscribe", "s": sid}).text == "OK"
    assert sid not in {s["id"] for s in desk.get("/subscription/list")["subscriptions"]}
    assert desk.config.read_text().startswith(COMMENT)
    bad = desk.post("/subscription/edit", {"ac": "unsubscribe", "s": sid})
    assert bad.status_code == 404
    assert desk.post("/subscription/edit", {"ac": "explode", "s": sid}).status_code == 400


def test_reading_list_read_up_to_a_time_then_one_kept_unread(desk: Desk) -> None:
    desk.clock.now += timedelta(hours=1)
    desk.server.route("/world.xml", rss(_stories(7, "w")), content_type="application/rss+xml")
    desk.agg.poll()
    cut = int((desk.clock.now - timedelta(minutes=30)).timestamp() * 1_000_000)
    assert desk.post("/mark-all-as-read", {"s": RL, "ts": str(cut)}).text == "OK"
    counts = {c["id"]: c["count"] for c in desk.get("/unread-count")["unreadcounts"]}
    world = f"feed/{desk.server.url('/world.xml')}"
    assert counts == {world: 2, "user/-/label/world": 2, RL: 2}
    old = {i["title"]: i["id"] for i in desk.get("/stream/contents/" + RL, n=50)["items"]}
    desk.post(
        "/edit-tag",
        {"i": old["Nvidia chips face export controls"], "a": "user/-/state/com.google/kept-unread"},
    )
    counts = {c["id"]: c["count"] for c in desk.get("/unread-count")["unreadcounts"]}
    assert counts[RL] == 3 and counts[TOPIC] == 1 and counts["user/-/label/tech"] == 1
    unread = _titles(desk.get("/stream/contents/" + RL, xt=READ))
    assert sorted(unread) == ["Nvidia chips face export controls", "Story w5", "Story w6"]


def test_reader_tokens_cli_lists_and_revokes(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    from aggregator.cli.main import main

    login(desk.client, "night", "owl")
    assert main(["--config", str(desk.config), "reader-tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert "desk" in listed and "night" in listed and desk.token not in listed
    assert main(["--config", str(desk.config), "reader-tokens", "revoke"]) == 2
    assert "--user NAME" in capsys.readouterr().err
    assert main(["--config", str(desk.config), "reader-tokens", "revoke", "--user", "desk"]) == 0
    assert "revoked 1 token" in capsys.readouterr().out
    r = desk.client.get(Z + "/tag/list", headers=auth(desk.token))
    assert r.status_code == 401
    assert main(["--config", str(desk.config), "reader-tokens", "list", "--all"]) == 0
    assert "revoked" in capsys.readouterr().out
