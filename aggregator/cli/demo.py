"""`aggregator demo`: the whole pipeline, offline, on the seed article.

Serves the seed article as an RSS feed and a news-site page on 127.0.0.1,
runs the pipeline into a temporary database with the starter
``export-controls`` topic and an email channel, then prints what it stored,
the match and the alert it raised, and writes that email as a .eml file.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli.common import Subcommands, out
from aggregator.exceptions import UsageError

if TYPE_CHECKING:
    import argparse

    from aggregator.core import Aggregator

Print = Callable[[str], None]


def register(sub: Subcommands) -> None:
    """`demo [--out DIR]`."""
    d = sub.add_parser("demo", help="offline demo on the seed article")
    d.add_argument("--out", help="folder for the demo's files (default: a temp folder)")
    d.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    return run_demo(Path(args.out) if args.out else None, out)


#: Written in English only: cross-lingual matching finds the French seed (README).
DEMO_TOPIC = '"export control*" AND (chip* OR semiconductor*)'
DEMO_DESCRIPTION = "US export controls on AI chips and semiconductors"


@contextmanager
def serve_seed() -> Iterator[str]:
    """A loopback site: /feed.xml lists the seed article at /2025/02/03/nvidia.html."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aggregator.cli.seedsite import article_page, load_seed, rss_feed

    seed = load_seed()
    pages: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            ctype, body = pages.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    article = base + "/2025/02/03/nvidia.html"
    pages["/feed.xml"] = (
        "application/rss+xml; charset=utf-8",
        rss_feed(seed, feed_url=base + "/feed.xml", article_url=article).encode(),
    )
    pages["/2025/02/03/nvidia.html"] = (
        "text/html; charset=utf-8",
        article_page(seed, article).encode(),
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()


DEMO_MARK = "# Demo config written by `aggregator demo`"


def demo_config(base: str, folder: Path) -> str:
    return f"""\
{DEMO_MARK}
database: sqlite:///demo.db
network:
  allow_private: [127.0.0.1/32]
defaults:
  interval: 15m
  extract: true
feeds:
  - name: eulerpool-demo
    url: {base}/feed.xml
    tags: [fr, markets]
topics:
  - name: export-controls
    query: '{DEMO_TOPIC}'
    description: "{DEMO_DESCRIPTION}"
    cross_lingual: true
alerts:
  - name: desk-email
    kind: email
    to: [desk@example.org]
    from: aggregator@example.org
    smtp: {{host: 127.0.0.1, port: 2525, security: none}}
    topics: [export-controls]
    group_window: 0s
"""


def run_demo(out_dir: Path | None, say: Print) -> int:
    folder = out_dir or Path(tempfile.mkdtemp(prefix="aggregator-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / "feeds.yaml"
    refuse_foreign_config(cfg_path)
    with serve_seed() as base:
        cfg_path.write_text(demo_config(base, folder), encoding="utf-8")
        return _run(cfg_path, folder, say)


def refuse_foreign_config(cfg_path: Path) -> None:
    """A feeds.yaml the demo did not write is somebody's desk: never overwrite it.

    A demo's own config (first line `DEMO_MARK`) is rewritten, so the demo can be
    run again in the same folder; its seed server listens on a new port each time.
    """
    try:
        with cfg_path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
    except FileNotFoundError:
        return
    except OSError as e:
        raise UsageError(
            f"{cfg_path}: cannot read ({e.strerror}): not overwriting it",
            hint="give `demo --out` an empty folder",
        ) from e
    if first != DEMO_MARK:
        raise UsageError(
            f"{cfg_path} already exists and is not a demo config: not overwriting it",
            hint="give `demo --out` an empty or new folder (the demo writes feeds.yaml, "
            "demo.db and .eml files there)",
        )


def _run(cfg_path: Path, folder: Path, say: Print) -> int:
    from aggregator.core import make_aggregator

    with make_aggregator(cfg_path, extract_workers=0) as agg:
        results = agg.poll()
        for r in results:
            say(f"polled {r.feed}: {r.new} new" + (f" — error: {r.error}" if r.error else ""))
        for a in agg.articles(limit=5):
            _show_article(agg, a.id, say)
        _show_alerts(agg, folder, say)
    say(f"\nconfig and database: {folder}")
    say(f"try: aggregator --config {cfg_path} items list")
    return 0 if results and not any(r.error for r in results) else 1


def _show_article(agg: Aggregator, article_id: int, say: Print) -> None:
    a = agg.article(article_id)
    say(f"\nstored article #{a.id}: {a.title}")
    say(
        f"  url: {a.url}\n  language: {a.language}  published: {a.published}  "
        f"extracted: {a.extracted}"
    )
    say("  text: " + (a.text or "")[:400].replace("\n", "\n        ") + " …")
    for m in a.matches:
        how = f"{m.method}" + (f", score {m.score:.3f}" if m.score is not None else "")
        say(f"\nmatched topic {m.topic!r} ({how}) on terms: {', '.join(m.terms)}")
        explanation = m.explanation or {}
        if explanation.get("expanded_terms"):
            say(f"  expanded terms that hit: {', '.join(explanation['expanded_terms'])}")
        sentences = explanation.get("sentences") or []
        for sentence in sentences:
            say(f"  sentence (score {sentence['score']:.3f}): {sentence['text']}")
        if not sentences:
            for s in m.snippets:
                say(f"  {s.text}")


def _show_alerts(agg: Aggregator, folder: Path, say: Print) -> None:
    from aggregator.alerts.email import build_message
    from aggregator.alerts.plan import decode_event
    from aggregator.alerts.render import Templates
    from aggregator.config.alerts import EmailChannelConfig
    from aggregator.core import utcnow

    config = agg.config
    emails = {c.name: c for c in config.alerts if isinstance(c, EmailChannelConfig)}
    for row in agg.queued_alert_payloads(status="pending"):
        event = decode_event(row)
        say(
            f"\nalert raised: {event.alert_id} on channel {event.channel} "
            f"(topic {event.topic}, pending delivery)"
        )
        ch = emails.get(event.channel)
        if ch is None:
            continue
        msg = build_message(ch, [event], Templates(ch.templates), now=utcnow())
        path = folder / f"{event.alert_id}.eml"
        path.write_bytes(bytes(msg))
        say(f"  email it would send: {path}\n  Subject: {msg['Subject']}")
