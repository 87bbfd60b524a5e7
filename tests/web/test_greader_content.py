"""What a reader app shows of a story: the French seed, its edits, its Atom form."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

import feedparser
from starlette.testclient import TestClient

from tests.support.greader import API, Z, auth, get_json, login
from tests.web.greader_seed import BASE_URL, SeedDesk, seed_desk  # noqa: F401  (fixture)

TOPIC = "user/-/label/topic:export-controls"
READ = "user/-/state/com.google/read"


def _client(desk: SeedDesk) -> tuple[TestClient, str]:
    client = TestClient(desk.app)
    return client, login(client)


def test_seed_story_in_its_feed_and_topic_with_its_text_and_links(seed_desk: SeedDesk) -> None:  # noqa: F811
    client, token = _client(seed_desk)
    feed = f"feed/{seed_desk.server.url('/feed.xml')}"
    by_feed = get_json(client, token, "/stream/contents/" + feed)["items"]
    by_topic = get_json(client, token, "/stream/contents/" + TOPIC)["items"]
    assert seed_desk.seed.title in [i["title"] for i in by_feed]
    [item] = by_topic
    assert item["title"] == seed_desk.seed.title
    html = item["summary"]["content"]
    assert seed_desk.seed.paragraphs[1][:50] in unescape(html)
    assert f'href="{seed_desk.page_url}"' in html
    assert f'href="{BASE_URL}/items/{seed_desk.seed_id}"' in html
    assert "edited" not in html
    assert "user/-/label/business" in item["categories"]


def test_an_edited_story_says_what_changed_and_links_the_desk(seed_desk: SeedDesk) -> None:  # noqa: F811
    paras = list(seed_desk.seed.paragraphs)
    added = (
        "Le Congrès examine désormais un texte qui durcirait encore les règles "
        "applicables aux ventes de processeurs graphiques vers la Chine, selon "
        "plusieurs sources proches du dossier consultées par la rédaction."
    )
    seed_desk.clock.now += timedelta(minutes=20)
    seed_desk.publish(seed_desk.seed.title + " — mise à jour", paras[:2] + [added] + paras[2:])
    [r] = seed_desk.agg.recheck([seed_desk.seed_id])
    assert r.outcome == "edit", r
    client, token = _client(seed_desk)
    [item] = get_json(client, token, "/stream/contents/" + TOPIC)["items"]
    assert item["title"] == seed_desk.seed.title + " — mise à jour"
    html = item["summary"]["content"]
    first = html.split("</p>", 1)[0]
    words = len(added.split())
    # the headline's "— mise à jour" is not a word of the body; the paragraph's are
    assert f"<em>edited: headline changed, +{words} words</em>" in first
    assert f'href="{BASE_URL}/items/{seed_desk.seed_id}"' in first
    assert "Le Congrès examine désormais" in html


def test_markup_in_a_story_reaches_no_client(seed_desk: SeedDesk) -> None:  # noqa: F811
    from aggregator.web.greader.render import content_html

    html = content_html(
        "<script>alert(1)</script> see https://x.example/a?b=1&c=2 now\n"
        "<img src=x onerror=alert(1)>",
        None,
        url="javascript:alert(1)",
        desk_url=None,
        edited=None,
        retracted=None,
    )
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html
    assert '<a href="https://x.example/a?b=1&amp;c=2" rel="noopener noreferrer">' in html


def test_atom_streams_as_feedhq_serves_them(seed_desk: SeedDesk) -> None:  # noqa: F811
    from urllib.parse import quote

    client, token = _client(seed_desk)
    feed = f"feed/{seed_desk.server.url('/feed.xml')}"
    r = client.get(
        API + "/reader/atom/" + quote(feed, safe=""), params={"n": 20}, headers=auth(token)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    parsed: Any = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == "eulerpool"
    titles = {e.title: e for e in parsed.entries}
    seed_entry = titles[seed_desk.seed.title]
    assert seed_entry.id.startswith("tag:google.com,2005:reader/item/")
    assert seed_entry.link == seed_desk.page_url
    terms = {t.term for t in seed_entry.tags}
    assert "user/-/state/com.google/fresh" in terms and READ not in terms

    topic = client.get(API + "/reader/atom/" + quote(TOPIC, safe=""), headers=auth(token))
    [entry] = feedparser.parse(topic.content).entries
    assert entry.title == seed_desk.seed.title
    assert entry.id != seed_entry.id  # one copy per stream in clients that key on the id
    ok = client.post(Z + "/edit-tag", data={"i": entry.id, "a": READ}, headers=auth(token))
    assert ok.text == "OK"
    again = feedparser.parse(
        client.get(API + "/reader/atom/" + quote(feed, safe=""), headers=auth(token)).content
    )
    seed_again = next(e for e in again.entries if e.title == seed_desk.seed.title)
    assert READ in {t.term for t in seed_again.tags}
    contents = client.get(
        Z + "/stream/contents/" + TOPIC, params={"output": "atom"}, headers=auth(token)
    )
    assert feedparser.parse(contents.content).entries[0].id == entry.id
