"""Change monitoring end to end: a loopback site whose article is edited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import make_aggregator
from aggregator.cli.seedsite import SeedArticle, article_page, load_seed, rss_feed
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.httpserver import LoopbackServer

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EXPORT_TOPIC = {
    "name": "export-controls",
    "query": (
        '("export control*" OR "export restriction*" OR contrôle* NEAR/3 export* '
        "OR restriction* NEAR/3 export*) AND (chip* OR puce* OR semi-conducteur* "
        "OR Nvidia OR IA)"
    ),
}


class Site:
    """One article page (editable) behind one RSS feed, plus sibling articles."""

    def __init__(self, server: LoopbackServer, seed: SeedArticle) -> None:
        self.server, self.seed = server, seed
        self.url = server.url("/2025/02/03/nvidia.html")
        self.publish(seed.title, list(seed.paragraphs))
        server.route(
            "/feed.xml",
            rss_feed(seed, feed_url=server.url("/feed.xml"), article_url=self.url),
            content_type="application/rss+xml",
        )

    def publish(self, title: str, paragraphs: list[str], footer: str = "") -> None:
        self.server.route(
            "/2025/02/03/nvidia.html",
            article_page(
                self.seed, self.url, title=title, paragraphs=paragraphs, extra_footer=footer
            ),
        )


@pytest.fixture
def seed() -> SeedArticle:
    return load_seed()


def _agg(tmp_path: Path, server: LoopbackServer, clock: Clock, **extra: Any) -> Any:
    cfg = write_config(
        tmp_path, [{"name": "eulerpool", "url": server.url("/feed.xml"), "extract": True}], **extra
    )
    return make_aggregator(cfg, clock=clock, extract_workers=0)


def _kinds(agg: Any, aid: int) -> list[str]:
    return [c.kind for c in reversed(agg.changes(limit=100)) if c.article_id == aid]


def test_headline_paragraph_correction_revert(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    site, clock = Site(http_server, seed), Clock()
    paras = list(seed.paragraphs)
    with _agg(tmp_path, http_server, clock) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        steps = [
            (seed.title + " — mise à jour", paras, "headline"),
            (
                seed.title + " — mise à jour",
                paras[:2]
                + [
                    (
                        "Le Congrès examine désormais un texte qui durcirait encore les règles "
                        "applicables aux ventes de processeurs graphiques vers la Chine, selon "
                        "plusieurs sources proches du dossier consultées par la rédaction."
                    )
                ]
                + paras[2:],
                "substantial",
            ),
            (
                seed.title + " — mise à jour",
                paras
                + [
                    (
                        "Rectificatif : une version précédente de cet article indiquait un chiffre "
                        "d'affaires erroné."
                    )
                ],
                "correction",
            ),
            (seed.title, paras, "revert"),
        ]
        for title, body, kind in steps:
            clock.now += timedelta(minutes=20)
            site.publish(title, body)
            [r] = agg.recheck([aid])
            assert r.outcome in ("edit", "revert"), r
            assert r.kind == kind, (kind, r)
        versions = agg.versions(aid)
        assert [v.kind for v in versions] == ["initial", "edit", "edit", "edit", "revert"]
        assert versions[-1].revert_of == 1
        assert versions[1].title == seed.title + " — mise à jour"
        assert "Rectificatif" in versions[3].text
        changes = {c.to_version: c for c in agg.changes(limit=100) if c.article_id == aid}
        assert changes[2].summary["headline_changed"] is True
        assert changes[2].summary["old_title"] == seed.title
        assert changes[3].summary["paragraphs_added"] >= 1
        assert changes[4].summary["correction"].startswith("Rectificatif")


def test_noise_stores_nothing(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    site, clock = Site(http_server, seed), Clock()
    paras = list(seed.paragraphs)
    with _agg(tmp_path, http_server, clock) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        noisy = [
            (paras[:1] + ["Mis à jour il y a 5 minutes"] + paras[1:], ""),
            ([p.replace("  ", " ") + "  " for p in paras], ""),
            (paras, '<div class="promo"><p>Offre spéciale : -50% cette semaine</p></div>'),
            (paras + ["12 commentaires"], ""),
        ]
        for body, footer in noisy:
            clock.now += timedelta(minutes=20)
            site.publish(seed.title, body, footer)
            [r] = agg.recheck([aid])
            assert r.outcome == "unchanged", (body[-1][:40], footer, r)
        assert len(agg.versions(aid)) == 1


def test_topic_introduced_then_removed_alerts(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    site, clock = Site(http_server, seed), Clock()
    plain = [p for p in seed.paragraphs if "export" not in p.lower()]
    site.publish(seed.title, plain)
    hook = http_server.route("/hook", b"ok", status=200)
    alerts = [
        {
            "name": "desk-hook",
            "kind": "webhook",
            "url": hook,
            "events": ["match", "change"],
            "topics": ["export-controls"],
            "group_window": "0s",
        }
    ]
    with _agg(tmp_path, http_server, clock, topics=[EXPORT_TOPIC], alerts=alerts) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        assert agg.article(aid).matches == ()
        clock.now += timedelta(minutes=20)
        site.publish(seed.title, list(seed.paragraphs))
        [r2] = agg.recheck([aid])
        clock.now += timedelta(minutes=20)
        site.publish(seed.title, plain)
        [r3] = agg.recheck([aid])
        payloads = agg.store.outbox_payloads()
    changes = [p for p in payloads if p["event"] == "change"]
    assert [c["change"]["topic_change"] for c in changes] == ["introduced", "removed"]
    assert all("topic_change" in c["change"]["reasons"] for c in changes)
    added = [s for p in changes[0]["change"]["passages"] for s in p["added"]]
    removed = [s for p in changes[1]["change"]["passages"] for s in p["removed"]]
    assert (
        any("export" in s.lower() for s in added)
        and not changes[0]["change"]["passages"][0]["removed"]
    )
    assert any("export" in s.lower() for s in removed)
    assert changes[0]["change"]["diff_summary"].startswith("+ ")
    assert [c["change"]["version"] for c in changes] == [2, 3]
    assert r2.alerts >= 1 and r3.alerts == 1
    matches = [p for p in payloads if p["event"] == "match"]
    assert len(matches) == 1 and matches[0]["topic"] == "export-controls"
    assert changes[0]["thread_id"] == matches[0]["alert_id"]


def test_rechecks_follow_the_decaying_schedule(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    Site(http_server, seed)
    clock = Clock()
    with _agg(tmp_path, http_server, clock) as agg:
        agg.poll()
        aid = agg.articles()[0].id

        def page_hits():
            return len(http_server.requests_for("/2025/02/03/nvidia.html"))

        seen = page_hits()
        checked_at: list[timedelta] = []
        for minute in range(0, 6 * 60 + 1, 5):
            clock.now = T0 + timedelta(minutes=minute)
            import asyncio

            async def cycle() -> None:
                async with agg.running() as st:
                    await agg.recheck_due(st, worker="t")

            asyncio.run(cycle())
            if page_hits() > seen:
                seen = page_hits()
                checked_at.append(clock.now - T0)
        assert agg.article(aid).last_checked_at is not None
    minutes = [int(c.total_seconds() // 60) for c in checked_at]
    assert minutes[:12] == list(range(15, 181, 15))
    assert minutes[12:15] == [240, 300, 360]


def test_404_then_410_marks_possibly_retracted(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    Site(http_server, seed)
    clock = Clock()
    with _agg(tmp_path, http_server, clock) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        http_server.route("/2025/02/03/nvidia.html", b"gone", status=404)
        clock.now += timedelta(minutes=20)
        [first] = agg.recheck([aid])
        assert first.outcome == "error" and agg.article(aid).retracted is None
        http_server.route("/2025/02/03/nvidia.html", b"gone", status=410)
        clock.now += timedelta(minutes=20)
        [second] = agg.recheck([aid])
        assert second.outcome == "retracted"
        assert "410" in (agg.article(aid).retracted or "")
        assert _kinds(agg, aid) == ["retraction"]


def test_page_watch_alerts_only_when_selected_part_changes(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    def page(rules: list[str], banner: str) -> str:
        items = "".join(f"<li>{r}</li>" for r in rules)
        return (
            f"<html><body><div class='banner'>{banner}</div><h1>Entity List</h1>"
            f"<ul id='rules'>{items}</ul><footer>Updated {banner}</footer></body></html>"
        )

    rules = ["Acme Semiconductor Ltd., Shenzhen", "Blue Dragon AI Labs, Beijing"]
    url = http_server.route("/entity-list", page(rules, "Monday"))
    hook = http_server.route("/hook", b"ok")
    clock = Clock()
    cfg = write_config(
        tmp_path,
        [],
        watches=[{"name": "entity-list", "url": url, "selector": "#rules", "interval": "1h"}],
        alerts=[
            {
                "name": "watch-hook",
                "kind": "webhook",
                "url": hook,
                "events": ["change"],
                "group_window": "0s",
            }
        ],
    )
    import asyncio

    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:

        async def cycle() -> list[Any]:
            async with agg.running() as st:
                return await agg.recheck_due(st, worker="t")

        [base] = asyncio.run(cycle())
        assert base.outcome == "initial"
        http_server.route("/entity-list", page(rules, "Tuesday"))
        clock.now += timedelta(hours=1)
        [same] = asyncio.run(cycle())
        assert same.outcome == "unchanged"
        http_server.route("/entity-list", page(rules + ["Red Lotus Computing, Wuhan"], "Wed"))
        clock.now += timedelta(minutes=30)
        assert asyncio.run(cycle()) == []  # not due yet: the watch's interval is 1h
        clock.now += timedelta(minutes=30)
        [changed] = asyncio.run(cycle())
        assert changed.outcome == "edit" and changed.alerts == 1
        payloads = agg.store.outbox_payloads()
        aid = changed.article_id
        assert "Red Lotus" in agg.versions(aid)[-1].text
    assert [p["event"] for p in payloads] == ["change"]
    assert payloads[0]["change"]["words_added"] >= 3


def test_schedule_stops_after_thirty_days(
    http_server: LoopbackServer, tmp_path: Path, seed: SeedArticle
) -> None:
    Site(http_server, seed)
    clock = Clock()
    with _agg(tmp_path, http_server, clock) as agg:
        agg.poll()
        aid = agg.articles()[0].id
        from aggregator.monitor.recheck import next_check

        [target] = agg.store.claim_due_checks(T0, worker="t", ids=[aid], limit=1, lease_until=T0)
    assert next_check(agg.config, target, T0 + timedelta(days=31)) is None
    assert next_check(agg.config, target, T0 + timedelta(days=2)) == T0 + timedelta(days=2, hours=3)


def _three_item_feed(server: LoopbackServer, keep: tuple[int, ...], desc: str = "") -> None:
    items = "".join(
        f"<item><title>Story {i}</title><link>{server.url(f'/s{i}.html')}</link>"
        f"<guid>s{i}</guid><pubDate>Mon, 0{i} Feb 2025 10:00:00 GMT</pubDate>"
        f"<description>Story {i} body {desc}</description></item>"
        for i in keep
    )
    server.route(
        "/multi.xml",
        f"<rss version='2.0'><channel><title>m</title>{items}</channel></rss>",
        content_type="application/rss+xml",
    )


def test_feed_item_change_triggers_recheck_and_vanished_item_is_flagged(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    _three_item_feed(http_server, (1, 2, 3))
    clock = Clock()
    cfg = write_config(tmp_path, [{"name": "multi", "url": http_server.url("/multi.xml")}])
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        agg.poll()
        ids = {a.title: a.id for a in agg.articles()}
        clock.now += timedelta(minutes=5)
        _three_item_feed(http_server, (1, 2, 3), desc="(updated)")
        [r] = agg.poll()
        assert r.updated == 3
        [target] = agg.store.claim_due_checks(
            clock.now, worker="t", limit=10, lease_until=clock.now, ids=[ids["Story 2"]]
        )
        assert target.id == ids["Story 2"]
        due = agg.store.claim_due_checks(
            clock.now,
            worker="t2",
            limit=10,
            lease_until=clock.now + timedelta(seconds=1),
        )
        assert {t.id for t in due} == {ids["Story 1"], ids["Story 3"]}  # due now, not in 15 min
        clock.now += timedelta(minutes=5)
        _three_item_feed(http_server, (1, 3), desc="(updated)")  # story 2 pulled, 1 remains
        agg.poll()
        assert agg.article(ids["Story 2"]).retracted == (
            "item vanished from its feed while neighbours remain"
        )
        assert agg.article(ids["Story 3"]).retracted is None
        kinds = {c.article_id: c.kind for c in agg.changes(limit=10)}
        assert kinds == {ids["Story 2"]: "retraction"}
        clock.now += timedelta(minutes=5)
        _three_item_feed(http_server, (3,), desc="(updated)")  # the oldest rolls off: not news
        agg.poll()
        assert agg.article(ids["Story 1"]).retracted is None


def test_monitor_false_switches_rechecks_off_for_a_feed(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    _three_item_feed(http_server, (1, 2))
    clock = Clock()
    cfg = write_config(
        tmp_path, [{"name": "multi", "url": http_server.url("/multi.xml"), "monitor": False}]
    )
    with make_aggregator(cfg, clock=clock, extract_workers=0) as agg:
        agg.poll()
        clock.now += timedelta(days=1)
        assert (
            agg.store.claim_due_checks(clock.now, worker="t", limit=10, lease_until=clock.now) == []
        )
