"""Feed management helpers behind `feeds add / test / import / export`.

Fetching goes through the same guarded Fetcher as polling, so a URL typed by
a user gets the same SSRF guard, caps and deadline as the daemon's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aggregator.config import edit as config_edit
from aggregator.config.models import Config
from aggregator.exceptions import ParseError, UsageError
from aggregator.http.fetcher import Fetcher
from aggregator.ingest import identity
from aggregator.ingest.rhythm import refuse_waiting
from aggregator.parse.discover import discover_feeds, looks_like_html
from aggregator.parse.feeds import ParsedFeed, parse_feed
from aggregator.parse.opml import OpmlFeed, parse_opml, render_opml
from aggregator.types import AddedFeed

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"
)


@dataclass(frozen=True)
class Probe:
    url: str
    title: str | None
    format: str
    entries: int
    parsed: ParsedFeed
    announced: tuple[str, ...] = ()  # every feed the page announced, when it was a page


def slug(text: str) -> str:
    """A feed name from a title or URL: lower-case letters, digits, dashes."""
    import unicodedata

    if "://" in text:
        parts = urlsplit(text)
        text = (parts.hostname or "feed").removeprefix("www.") + parts.path
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return s[:60].rstrip("-") or "feed"


#: (URL, until) of every Retry-After still running (Store.host_cool_downs); none = forced.
CoolDowns = Iterable[tuple[str, datetime]]


async def _fetch_feed(
    config: Config, url: str, pick: int | None = None, cool_downs: CoolDowns = ()
) -> tuple[str, ParsedFeed, tuple[str, ...]]:
    """Fetch `url`; if it is an HTML page, follow its <link rel=alternate> feed: the
    first one, or the `pick`-th (1-based) of those it announces.

    A host that asked to wait (`cool_downs`) is not asked: HostWaitingError, before
    the page and before the feed it announces (which may be on another host).
    """
    from aggregator.http.policy import fetch_policy

    waits = list(cool_downs)
    announced: tuple[str, ...] = ()
    async with Fetcher(fetch_policy(config)) as fetcher:
        refuse_waiting(url, waits)
        res = await fetcher.get(url, accept=FEED_ACCEPT)
        if looks_like_html(res.content):
            announced = tuple(discover_feeds(res.content, res.final_url))
            if not announced:
                raise ParseError(
                    f"{url} is an HTML page that announces no feed",
                    hint="look for an RSS/Atom link on the site and add that URL",
                )
            url = announced[_pick(pick, announced, url)]
            refuse_waiting(url, waits)
            res = await fetcher.get(url, accept=FEED_ACCEPT)
        elif pick is not None:
            raise UsageError(
                f"--pick chooses among the feeds a page announces, and {url} is a feed itself",
                hint="leave --pick out",
            )
        parsed = parse_feed(res.content, url=res.final_url, content_type=res.content_type)
        return url, parsed, announced


def _pick(pick: int | None, announced: Sequence[str], page: str) -> int:
    if pick is None:
        return 0
    if not 1 <= pick <= len(announced):
        raise UsageError(
            f"--pick {pick}: {page} announces {len(announced)} feed(s)",
            hint=f"pick a number from 1 to {len(announced)}",
        )
    return pick - 1


def probe_feed(
    config: Config, url: str, pick: int | None = None, cool_downs: CoolDowns = ()
) -> Probe:
    """Validate a feed by fetching and parsing it once (nothing stored)."""
    final, parsed, announced = asyncio.run(_fetch_feed(config, url, pick, cool_downs))
    return Probe(final, parsed.title, parsed.format, len(parsed.entries), parsed, announced)


def add_feed(
    config: Config,
    url: str,
    *,
    name: str | None = None,
    title: str | None = None,
    tags: Sequence[str] = (),
    interval: str | None = None,
    extract: bool | None = None,
    pick: int | None = None,
    cool_downs: CoolDowns = (),
) -> tuple[AddedFeed, Config]:
    """Validate `url` as a feed, then append it to the config's file (comments kept).

    The URL is fetched through the SSRF guard (`network.allow_private`) and parsed;
    an HTML page's announced feed is followed. Nothing is written unless all of it
    passes, and the new file is validated whole before it replaces the old one.
    Without `name`, one is made from the feed's title, unique among the feeds.
    A host that asked to wait (`cool_downs`) is not fetched from: HostWaitingError.
    """
    path = config_file(config)
    if interval:
        from aggregator.config.durations import parse_duration

        parse_duration(interval)
    probe = probe_feed(config, url, pick, cool_downs)
    taken = {f.name for f in config.feeds}
    chosen = name or _unique(slug(title or probe.title or probe.url), taken)
    entry: dict[str, Any] = {"name": chosen, "url": probe.url}
    if title:
        entry["title"] = title
    if interval:
        entry["interval"] = interval
    if extract is not None and not extract:
        entry["extract"] = False
    if tags:
        entry["tags"] = list(dict.fromkeys(tags))
    new = config_edit.add_feed(path, entry)
    found = url if probe.url != url else None
    return AddedFeed(
        chosen, probe.url, title or probe.title, probe.format, probe.entries, found, probe.announced
    ), new


def remove_feed(config: Config, name: str) -> Config:
    """Drop a feed from the config's file, comments kept; returns the new config."""
    return config_edit.remove_feed(config_file(config), name)


def set_enabled(config: Config, name: str, enabled: bool) -> Config:
    """Enable or disable a feed in the config's file, comments kept."""
    return config_edit.set_enabled(config_file(config), name, enabled)


def edit_feed(
    config: Config, name: str, title: str | None, add: Sequence[str], remove: Sequence[str]
) -> Config:
    """Retitle a feed and add or remove its tags in the config's file, comments kept."""
    return config_edit.edit_feed(
        config_file(config), name, title=title, add_tags=add, remove_tags=remove
    )


def config_file(config: Config) -> Path:
    if config.path is None:
        raise UsageError(
            "this configuration has no file to edit", hint="load it from feeds.yaml (--config PATH)"
        )
    return config.path


def test_feed(config: Config, url: str, cool_downs: CoolDowns = ()) -> dict[str, Any]:
    """What polling `url` would store (HostWaitingError if its host asked to wait)."""
    p = probe_feed(config, url, cool_downs=cool_downs)
    rule = identity.choose_rule(p.parsed.entries)
    return {
        "url": p.url,
        "title": p.title,
        "format": p.format,
        "identity": rule,
        "warnings": list(p.parsed.warnings),
        "ttl_minutes": p.parsed.ttl_minutes,
        "entries": [
            {
                "key": identity.entry_key(e, rule),
                "title": e.title,
                "url": e.url,
                "published": e.published.isoformat() if e.published else None,
                "author": e.author,
                "tags": list(e.tags),
            }
            for e in p.parsed.entries
        ],
    }


def import_opml(config_file: Path, opml_file: Path) -> tuple[list[str], list[str]]:
    """Add every OPML feed not already configured (by URL); returns (added, skipped)."""
    try:
        outlines = parse_opml(opml_file.read_bytes())
    except OSError as e:
        raise UsageError(f"cannot read {opml_file}: {e.strerror}") from e
    added: list[str] = []
    skipped: list[str] = []

    def change(doc: Any) -> None:
        feeds = config_edit._feeds(doc)
        urls = {str(f.get("url")) for f in feeds}
        names = {str(f.get("name")) for f in feeds}
        for o in outlines:
            if o.url in urls:
                skipped.append(o.url)
                continue
            name = _unique(o.name or slug(o.title or o.url), names)
            names.add(name)
            urls.add(o.url)
            feeds.append(_outline_entry(name, o))
            added.append(name)

    config_edit.edit(config_file, change)
    return added, skipped


def _outline_entry(name: str, o: OpmlFeed) -> Any:
    from ruamel.yaml.comments import CommentedMap

    item = CommentedMap(name=name, url=o.url)
    if o.title:
        item["title"] = o.title
    if o.html_url:
        item["html_url"] = o.html_url
    if o.tags:
        item["tags"] = config_edit._seq(list(dict.fromkeys(slug(t) for t in o.tags)))
    for key, value in o.settings:
        item[key] = value if key == "interval" else value.lower() not in ("false", "0", "no")
    return item


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def export_feeds(config: Config, fmt: str) -> str:
    if fmt == "opml":
        return render_opml([_opml_feed(f) for f in config.feeds])
    import yaml

    return str(
        yaml.safe_dump(
            {"feeds": [_feed_yaml(f) for f in config.feeds]}, allow_unicode=True, sort_keys=False
        )
    )


def _opml_feed(f: Any) -> OpmlFeed:
    """A feed as OPML carries it: title, htmlUrl, tags (folder + category), and the name and
    settings this aggregator reads back, so import → export → import loses nothing."""
    from aggregator.config.durations import format_duration

    settings: list[tuple[str, str]] = []
    if f.interval is not None:
        settings.append(("interval", format_duration(f.interval)))
    for key in ("extract", "monitor"):
        if isinstance(getattr(f, key), bool):
            settings.append((key, str(getattr(f, key)).lower()))
    if not f.enabled:
        settings.append(("enabled", "false"))
    return OpmlFeed(f.title, f.url, f.html_url, tuple(f.tags), f.name, tuple(settings))


def _feed_yaml(f: Any) -> dict[str, Any]:
    from aggregator.config.durations import format_duration

    data: dict[str, Any] = f.model_dump(mode="python", exclude_defaults=True)
    if f.interval is not None:
        data["interval"] = format_duration(f.interval)
    return data
