"""The facade methods of the desk and the reader API: streams of stories, triage,
version comparisons, activity, and the reader apps' tokens, items and unread counts.

Mixed into :class:`~aggregator.core.Aggregator`. The desk's helpers (`aggregator.desk`,
which diffs and groups wire copies) load when a stream is asked for, so a command that
only lists feeds or articles never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator.config.models import Config
from aggregator.exceptions import UsageError
from aggregator.types import (
    ReaderItem,
    ReaderToken,
    StreamFilter,
    StreamPage,
    Triage,
    UnreadCounts,
    Version,
    VersionDiff,
)

if TYPE_CHECKING:  # the full Store loads when a desk method first needs it
    from aggregator.storage.store import Store


class DeskAPI:
    """Mixed into :class:`~aggregator.core.Aggregator`."""

    store: Store
    config: Config
    clock: Callable[[], datetime]
    versions: Callable[[int], list[Version]]

    # ------------------------------------------------------------ the desk

    def desk_secret(self) -> bytes:
        """The key the web layer signs sessions, CSRF and feed tokens with (kept in the
        database, so every daemon serving it agrees)."""
        return self.store.desk.secret()

    def stream(self, f: StreamFilter) -> StreamPage:
        """A page of stories, newest first: wire copies grouped, the match shown, triage."""
        from aggregator import desk

        return desk.stream_page(self.store, self.config, f)

    def count_stream(self, f: StreamFilter, cap: int = 1000) -> int:
        """How many stories the stream holds (unread badges), counting at most `cap`."""
        from aggregator import desk

        return self.store.desk.count(f, desk.feed_scope(self.store, self.config, f), cap)

    def triage(self, user: str, ids: Sequence[int]) -> dict[int, Triage]:
        return self.store.desk.triage(user, ids)

    def set_read(self, user: str, ids: Sequence[int], read: bool = True) -> int:
        """Mark stories read (or unread again) for one desk user."""
        return self.store.desk.set_read(user, ids, read, self.clock())

    def set_starred(self, user: str, ids: Sequence[int], starred: bool = True) -> int:
        return self.store.desk.set_starred(user, ids, starred, self.clock())

    def mark_all_read(self, f: StreamFilter, until: datetime | None = None) -> int:
        """Every story of the stream `f` (its user, topic, feed ...) first seen at or
        before `until` (default now) becomes read."""
        if f.user is None:
            raise UsageError("mark_all_read needs the desk user whose stories to mark")
        from aggregator import desk

        scope = desk.feed_scope(self.store, self.config, f)
        return self.store.desk.mark_all_read(f, scope, until or self.clock(), self.clock())

    def stream_ids(self, f: StreamFilter) -> list[int]:
        """Up to f.limit + 1 story ids of a stream, one per story (no wire-copy grouping,
        as reader apps expect): the reader API's pages."""
        from aggregator import desk

        scope = desk.feed_scope(self.store, self.config, f)
        return [r.article_id for r in self.store.desk.stream(f, scope)]

    # ------------------------------------------------------------ the reader API

    def reader_installation_id(self) -> str:
        """The random id of this database that the reader API's item ids derive from."""
        return self.store.installation_id()

    def add_reader_token(self, user: str, token_hash: str, client: str | None) -> None:
        """Record a reader app's login (only the token's digest is kept)."""
        self.store.reader_api.add_token(user, token_hash, client, self.clock())

    def reader_token_user(self, token_hash: str) -> str | None:
        """Whose login the token with this digest is, unless it was revoked."""
        return self.store.reader_api.token_user(token_hash, self.clock())

    def reader_tokens(self, user: str | None = None) -> list[ReaderToken]:
        return self.store.reader_api.tokens(user)

    def revoke_reader_tokens(self, *, user: str | None = None, token_id: int | None = None) -> int:
        """Log reader apps out: one token, a user's, or everyone's (neither given)."""
        return self.store.reader_api.revoke_tokens(self.clock(), user=user, token_id=token_id)

    def reader_items(self, ids: Sequence[int]) -> list[ReaderItem]:
        """Stories with their feeds, topics and edits, in the order given."""
        return self.store.reader_api.items(ids)

    def reader_unread_counts(self, user: str, cap: int = 1000) -> UnreadCounts:
        """Unread stories per feed, tag, topic and in all (reader apps' badges)."""
        feeds = self.config.feeds
        tags = {t: [f.name for f in feeds if t in f.tags] for f in feeds for t in f.tags}
        topics = [t.name for t in self.config.topics]
        return self.store.reader_api.unread_counts(user, [f.name for f in feeds], tags, topics, cap)

    def first_seen(self, ids: Sequence[int]) -> dict[int, datetime]:
        return self.store.reader_api.first_seen(ids)

    def compare_versions(self, article_id: int, old: int, new: int) -> VersionDiff:
        """Versions `old` and `new` of a story side by side, word by word."""
        from aggregator import desk

        return desk.compare(self.versions(article_id), article_id, old, new)

    def feed_activity(self, days: int = 30) -> dict[str, list[int]]:
        """Per feed, new stories per day over the last `days` days (oldest first)."""
        from aggregator import desk

        return desk.activity(self.store, self.clock(), days)

    def stream_languages(self) -> list[str]:
        return self.store.desk.languages()

    def alert_counts(self) -> dict[str, int]:
        """Alerts in the outbox per status (pending, failed, dead, sent)."""
        return self.store.outbox_counts()

    def watch_states(self) -> dict[str, tuple[datetime | None, int, str | None]]:
        """Per watched page: last check, check errors in a row, retraction note."""
        return self.store.desk.watch_states()
