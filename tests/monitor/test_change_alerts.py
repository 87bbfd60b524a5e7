"""Change alerts show the change: the removed and added passages, for articles and watches."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aggregator import make_aggregator
from aggregator.alerts.email import build_message
from aggregator.alerts.plan import decode_event, desk_url
from aggregator.alerts.registry import parse_channel
from aggregator.alerts.render import Templates
from aggregator.changes.passages import Passage, cap, changed_passages, sentences
from aggregator.cli.seedsite import SeedArticle, load_seed
from aggregator.monitor.recheck import select_text
from tests.monitor.test_monitor import EXPORT_TOPIC, Clock, Site, _agg
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

HOOK = {"kind": "webhook", "events": ["match", "change"], "group_window": "0s"}


def test_sentences_split_on_sentence_ends_only() -> None:
    text = "U.S. officials said 3.5 per cent. The rules take effect in May! « Non », dit-il."
    assert sentences(text) == [
        "U.S. officials said 3.5 per cent.",
        "The rules take effect in May!",
        "« Non », dit-il.",
    ]


def test_passages_are_whole_sentences_and_ignore_stamps() -> None:
    old = "Updated 10:02 GMT\n\nThe rules take effect in May. Brussels agreed.\n\nOther text."
    new = "Updated 14:32 GMT\n\nThe rules take effect in July. Brussels agreed.\n\nOther text."
    assert changed_passages(old, new) == [
        Passage(("The rules take effect in May.",), ("The rules take effect in July.",))
    ]
    assert changed_passages(old, old.replace("10:02", "11:00")) == []


def test_cap_counts_what_it_leaves_out() -> None:
    ps = [Passage((str(i),), ()) for i in range(8)]
    kept, more = cap(ps, 5)
    assert len(kept) == 5 and more == 3


def test_block_elements_become_lines() -> None:
    page = (
        b"<div id='r'><h2>Entities</h2><ul><li>Shenzhen</li><li>Beta Chips Ltd.</li></ul>"
        b"<p>one<br>two</p><table><tr><td>a</td><td>b</td></tr></table>tail</div>"
    )
    assert select_text(page, "#r").split("\n") == [
        "Entities",
        "Shenzhen",
        "Beta Chips Ltd.",
        "one",
        "two",
        "a",
        "b",
        "tail",
    ]


def test_desk_url_from_web_base_url() -> None:
    config: Any = SimpleNamespace(web=SimpleNamespace(base_url="https://desk.example.org/"))
    assert desk_url(config, 7) == "https://desk.example.org/items/7"
    assert desk_url(SimpleNamespace(web={"base_url": "https://d.example"}), 1) == (  # type: ignore[arg-type]
        "https://d.example/items/1"
    )
    assert desk_url(SimpleNamespace(), 7) is None  # type: ignore[arg-type]


def test_edit_alert_carries_the_documented_change_shape(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    """README's webhook `change` example, produced by a real edit and re-check."""
    seed: SeedArticle = load_seed()
    site, clock = Site(http_server, seed), Clock()
    paras = list(seed.paragraphs)
    hook = http_server.route("/hook", b"ok")
    alerts = [{"name": "hook", "url": hook, "change_threshold": {"min_words": 2}, **HOOK}]
    with _agg(tmp_path, http_server, clock, topics=[EXPORT_TOPIC], alerts=alerts) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        published = agg.article(aid).published
        old_sentence = sentences(paras[2])[1]
        assert "tarifs" in old_sentence
        new_sentence = old_sentence.replace("tarifs", "droits de douane")
        paras[2] = paras[2].replace(old_sentence, new_sentence)
        clock.now += timedelta(minutes=20)
        site.publish(seed.title + " (mise à jour)", paras)
        [r] = agg.recheck([aid])
        assert r.alerts == 1
        [payload] = [p for p in agg.store.outbox_payloads() if p["event"] == "change"]
    event = decode_event(payload)
    assert event.change is not None and event.article is not None
    from aggregator.alerts.webhook import payload as webhook_payload

    change = webhook_payload(event)["data"]["change"]
    assert change["reasons"] == ["headline", "min_words"]
    assert change["diff_summary"] == f"- {old_sentence}\n+ {new_sentence}"
    assert change["passages"] == [{"removed": [old_sentence], "added": [new_sentence]}]
    assert change["headline_changed"] is True
    assert published is not None and event.article.published == published
    config = parse_channel(
        {"name": "mail", "kind": "email", "to": ["d@example.org"], "from": "a@example.org"}
        | {"smtp": {"host": "127.0.0.1"}}
    )
    message = build_message(config, [event], Templates(), now=clock.now)  # type: ignore[arg-type]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"- {old_sentence}" in text and f"+ {new_sentence}" in text
    assert "Published: unknown" not in text


def test_page_watch_alert_names_the_watch_and_carries_the_text(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    def page(rules: list[str]) -> str:
        items = "".join(f"<li>{r}</li>" for r in rules)
        return f"<html><body><h1>Entity List</h1><ul id='rules'>{items}</ul></body></html>"

    rules = ["Acme Semiconductor Ltd., Shenzhen", "Beta Chips Ltd., Beijing"]
    url = http_server.route("/entity-list", page(rules))
    hook = http_server.route("/hook", b"ok")
    clock = Clock()
    watch = {"name": "entity-list", "url": url, "selector": "#rules", "interval": "1h"}
    cfg = write_config(
        tmp_path, [], watches=[watch], alerts=[{"name": "hook", "url": hook, **HOOK}]
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:

        async def cycle() -> list[Any]:
            async with agg.running() as st:
                return await agg.recheck_due(st, worker="t")

        asyncio.run(cycle())
        http_server.route("/entity-list", page([rules[0], "Red Lotus Computing, Wuhan"]))
        clock.now += timedelta(hours=1)
        [changed] = asyncio.run(cycle())
        assert changed.alerts == 1
        [payload] = agg.store.outbox_payloads()
    event = decode_event(payload)
    from aggregator.alerts.webhook import payload as webhook_payload

    data = webhook_payload(event)["data"]
    assert data["watch"] == {"name": "entity-list", "url": url, "selector": "#rules"}
    assert data["change"]["passages"] == [
        {"removed": ["Beta Chips Ltd., Beijing"], "added": ["Red Lotus Computing, Wuhan"]}
    ]
    config = parse_channel(
        {"name": "mail", "kind": "email", "to": ["d@example.org"], "from": "a@example.org"}
        | {"smtp": {"host": "127.0.0.1"}}
    )
    message = build_message(config, [event], Templates(), now=clock.now)  # type: ignore[arg-type]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Watched page “entity-list” changed")
    assert f"Page: {url}" in text and "Part compared: #rules" in text
    assert "- Beta Chips Ltd., Beijing" in text and "+ Red Lotus Computing, Wuhan" in text
    assert "matching “”" not in text and "Topic: —" not in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Red Lotus Computing, Wuhan" in html and "Watch “entity-list”" in html


def test_a_headline_line_in_the_text_is_not_repeated_as_a_passage(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    page = (
        "<html><head><title>{t}</title></head><body><article><h1>{t}</h1>"
        "<p>Brussels said new export controls on advanced chips apply to shipments of "
        "semiconductors to several countries. The new rules take effect in {m}.</p>"
        "<p>Officials said the controls follow months of talks with member states and "
        "industry groups about AI accelerators and the machines used to make them.</p>"
        "</article></body></html>"
    )
    url = http_server.route("/s.html", page.format(t="EU tightens export controls", m="May"))
    http_server.route(
        "/rss.xml",
        f"<rss version='2.0'><channel><title>w</title><item><title>EU tightens export controls"
        f"</title><link>{url}</link><guid>s</guid></item></channel></rss>",
        content_type="application/rss+xml",
    )
    hook = http_server.route("/hook", b"ok")
    clock = Clock()
    cfg = write_config(
        tmp_path,
        [{"name": "w", "url": http_server.url("/rss.xml"), "extract": True}],
        topics=[{"name": "chips", "query": '"export control*" AND chip*'}],
        alerts=[{"name": "hook", "url": hook, "change_threshold": {"min_words": 2}, **HOOK}],
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        http_server.route("/s.html", page.format(t="EU delays export controls", m="July"))
        clock.now += timedelta(minutes=20)
        agg.recheck([aid])
        [payload] = [p for p in agg.store.outbox_payloads() if p["event"] == "change"]
        text = agg.versions(aid)[-1].text
    change = decode_event(payload).change
    assert text.startswith("EU delays export controls")  # the headline is in the text
    assert change is not None and change.headline_changed
    assert all("EU delays export controls" not in s for p in change.passages for s in p.added)
    assert any("July" in s for p in change.passages for s in p.added)
