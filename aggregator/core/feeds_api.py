"""The facade's feed management (`feeds add / test / edit / remove / enable / disable`)
and the one place every command reads a host's standing wishes from.

A 429/503 Retry-After is stored on the feed that met it (`Store.host_cool_downs`)
and speaks for the whole origin; which work it holds back is decided by the pure
`ingest.rhythm.hold_back`. Here is only where the facade reads them: forcing a
command is reading none. The stages load inside the methods that use them (a
read-only command loads none)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aggregator.config.models import Config
from aggregator.exceptions import SchemaError
from aggregator.types import AddedFeed

if TYPE_CHECKING:  # the ORM loads only when a command needs it (`feeds list` does not)
    from aggregator.storage.store import Store


def standing_cool_downs(config: Config, now: datetime | None = None) -> list[tuple[str, datetime]]:
    """The Retry-Afters still running in `config`'s database, for a command that has
    no database of its own to open (`feeds test`): it neither creates nor migrates one,
    and a database that is new or of another version has no wish we can read."""
    from aggregator.storage.store import Store

    try:
        store = Store.open(config.database_url(), readonly=True)
    except SchemaError:
        return []
    try:
        return store.host_cool_downs(now or datetime.now(UTC))
    finally:
        store.close()


class FeedsAPI:
    """Mixed into :class:`~aggregator.core.Aggregator`."""

    store: Store
    config: Config
    clock: Callable[[], datetime]

    def reload(self, config: Config) -> None:  # the Aggregator's
        raise NotImplementedError

    def cool_downs(self, *, force: bool = False) -> list[tuple[str, datetime]]:
        """(feed URL, until) of every Retry-After still running; none when `force`d.

        What every fetching path hands to `rhythm.hold_back` / `refuse_waiting`.
        """
        return [] if force else self.store.host_cool_downs(self.clock())

    def add_feed(
        self,
        url: str,
        *,
        name: str | None = None,
        title: str | None = None,
        tags: Sequence[str] = (),
        interval: str | None = None,
        extract: bool | None = None,
        pick: int | None = None,
        force: bool = False,
    ) -> AddedFeed:
        """Validate `url` as a feed through the SSRF guard, append it to feeds.yaml
        (comments kept) and adopt the new config; what `aggregator feeds add` does.
        A host that asked to wait is not fetched from unless `force`: HostWaitingError."""
        from aggregator.ingest import feedtools

        added, cfg = feedtools.add_feed(
            self.config,
            url,
            name=name,
            title=title,
            tags=tags,
            interval=interval,
            extract=extract,
            pick=pick,
            cool_downs=self.cool_downs(force=force),
        )
        self.reload(cfg)
        return added

    def test_feed(self, url: str, *, force: bool = False) -> dict[str, Any]:
        """What polling `url` would store, nothing stored (`aggregator feeds test`)."""
        from aggregator.ingest import feedtools

        return feedtools.test_feed(self.config, url, self.cool_downs(force=force))

    def remove_feed(self, name: str) -> None:
        """Drop a feed from feeds.yaml (its stored stories are kept)."""
        from aggregator.ingest import feedtools

        self.reload(feedtools.remove_feed(self.config, name))

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a feed in feeds.yaml (comments kept). Enabling also clears
        a stored disable (a 410 Gone): the user says the feed is back."""
        from aggregator.ingest import feedtools

        self.reload(feedtools.set_enabled(self.config, name, enabled))
        if enabled:
            self.store.clear_disabled(name)

    def edit_feed(self, name: str, *, title: str | None = None, add_tags: Sequence[str] = (),
                  remove_tags: Sequence[str] = ()) -> None:  # fmt: skip
        """Retitle a feed or change its tags in feeds.yaml (comments kept)."""
        from aggregator.ingest import feedtools

        self.reload(feedtools.edit_feed(self.config, name, title, add_tags, remove_tags))
