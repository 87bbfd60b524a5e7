"""Live reload of feeds.yaml: notice an edit within a second, keep the last good config.

Stdlib polling (mtime, size and a hash of the bytes, once a second) instead of
inotify: it works on every filesystem, in containers with bind mounts, and
with editors that save by rename. A touch that changes nothing is not a
reload; an invalid edit is logged once with the ConfigError's message (file,
line, key) and the daemon carries on with the config it has.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aggregator.config.models import Config, load_config
from aggregator.exceptions import ConfigError

log = logging.getLogger("aggregator.daemon")


@dataclass(frozen=True)
class Stamp:
    """What identifies one version of the file."""

    mtime_ns: int
    size: int
    digest: str


def stamp(path: Path) -> Stamp | None:
    """The file's stamp, or None while it is missing (mid-rename, deleted)."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError:
        return None
    return Stamp(st.st_mtime_ns, st.st_size, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class ReloadEvent:
    """What a poll found: a new valid config, or the error of an invalid one."""

    config: Config | None = None
    error: ConfigError | None = None


Apply = Callable[[Config], None]


class ConfigWatcher:
    """Call `poll()` about once a second; it applies valid edits with `apply`."""

    def __init__(self, path: Path, apply: Apply) -> None:
        self.path = path
        self.apply = apply
        self.seen = stamp(path)

    def poll(self) -> ReloadEvent | None:
        """Load and apply the file if it changed since the last look; None if it did not."""
        current = stamp(self.path)
        if current is None or current == self.seen or _same_bytes(current, self.seen):
            if current is not None:
                self.seen = current
            return None
        try:
            config = load_config(self.path)
        except ConfigError as e:
            self.seen = current  # report a broken version once, not every second
            log.error(
                "feeds.yaml not reloaded, still running the last good config: %s%s",
                e.message,
                f" (hint: {e.hint})" if e.hint else "",
            )
            return ReloadEvent(error=e)
        self.apply(config)  # raises to retry next poll (e.g. the database was busy)
        self.seen = current
        return ReloadEvent(config=config)

    def mark_current(self) -> None:
        """The daemon wrote the file itself (an adopted redirect) and applied it already."""
        self.seen = stamp(self.path)


def _same_bytes(a: Stamp, b: Stamp | None) -> bool:
    """A touch (new mtime, same content) is not an edit."""
    return b is not None and a.digest == b.digest and a.size == b.size
