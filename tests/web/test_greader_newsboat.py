"""A real client: newsboat's `feedhq` source synced against the reader API.

newsboat logs in with ClientLogin, lists the subscriptions, then reads each
one's Atom stream (``/reader/atom/<escaped stream id>?n=20``). The French seed
story must show up under its feed and under the topic's subscription, unread,
and drop out of the unread count once the desk marks it read.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.greader import API, ServedApp
from tests.web.greader_seed import SeedDesk, seed_desk  # noqa: F401  (fixture)

NEWSBOAT = shutil.which("newsboat")

pytestmark = pytest.mark.skipif(
    NEWSBOAT is None and os.environ.get("CI") != "true",
    reason="newsboat is not installed (apt-get install newsboat)",
)


class Newsboat:
    """newsboat with its own HOME, config and cache, pointed at the API."""

    def __init__(self, home: Path, api_url: str, user: str, password: str) -> None:
        assert NEWSBOAT is not None, "CI=true requires newsboat (.ci/run installs it)"
        self.home = home
        home.mkdir()
        self.config = home / "config"
        self.config.write_text(
            'urls-source "feedhq"\n'
            f'feedhq-url "{api_url}"\n'
            f'feedhq-login "{user}"\n'
            f'feedhq-password "{password}"\n'
            "feedhq-show-special-feeds no\n",
            encoding="utf-8",
        )
        (home / "urls").write_text("", encoding="utf-8")
        self.cache = home / "cache.db"

    def run(self, *commands: str) -> str:
        env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
        }
        args = [
            str(NEWSBOAT),
            "-C",
            str(self.config),
            "-u",
            str(self.home / "urls"),
            "-c",
            str(self.cache),
        ]
        for c in commands:
            args += ["-x", c]
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        return done.stdout

    def items(self) -> list[tuple[str, str, str, int]]:
        """(feed title, item title, guid, unread) from newsboat's cache."""
        with sqlite3.connect(self.cache) as db:
            return list(
                db.execute(
                    "SELECT f.title, i.title, i.guid, i.unread FROM rss_item i "
                    "JOIN rss_feed f ON f.rssurl = i.feedurl ORDER BY f.title, i.title"
                )
            )


@pytest.fixture
def newsboat(seed_desk: SeedDesk, tmp_path: Path) -> Iterator[tuple[SeedDesk, Newsboat]]:  # noqa: F811
    served = ServedApp(seed_desk.app)
    try:
        yield seed_desk, Newsboat(tmp_path / "nb", served.base + API, "desk", "s3cret")
    finally:
        served.close()


def _unread(out: str) -> int:
    return int(out.split(maxsplit=1)[0])


def test_newsboat_syncs_feed_and_topic_and_sees_the_desk_mark_read(
    newsboat: tuple[SeedDesk, Any],
) -> None:
    desk, nb = newsboat
    seed_title = desk.seed.title
    assert _unread(nb.run("reload", "print-unread")) == 3
    items = nb.items()
    assert ("eulerpool", seed_title) in {(f, t) for f, t, _, _ in items}
    assert ("Topic: export-controls", seed_title) in {(f, t) for f, t, _, _ in items}
    assert ("eulerpool", "Météo du week-end") in {(f, t) for f, t, _, _ in items}
    assert all(unread == 1 for *_, unread in items)

    desk.mark_read(desk.seed_id)
    assert _unread(nb.run("reload", "print-unread")) == 1
    still = {(f, t) for f, t, _, unread in nb.items() if unread}
    assert still == {("eulerpool", "Météo du week-end")}

    desk.mark_read(desk.seed_id, read=False)
    assert _unread(nb.run("reload", "print-unread")) == 3
