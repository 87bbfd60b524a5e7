"""Edit feeds.yaml in place, keeping its comments, order and formatting.

Every edit is validated as a whole config before the file is replaced
(atomically: temp file + rename), so a CLI edit can never leave a broken file
for the daemon's live reload to trip on.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aggregator.config.models import Config, parse_config
from aggregator.exceptions import ConfigError, NotFoundError, UsageError


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def edit(path: Path, change: Callable[[CommentedMap], None]) -> Config:
    """Load, apply `change`, validate, write back atomically; returns the new config."""
    y = _yaml()
    text = path.read_text(encoding="utf-8")
    doc = y.load(text) or CommentedMap()
    change(doc)
    buf = io.StringIO()
    y.dump(doc, buf)
    new_text = buf.getvalue()
    cfg = parse_config(new_text, path=path)
    _atomic_write(path, new_text)
    return cfg


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _feeds(doc: CommentedMap) -> list[Any]:
    feeds = doc.get("feeds")
    if feeds is None:
        feeds = CommentedSeq()
        doc["feeds"] = feeds
    if not isinstance(feeds, list):
        raise ConfigError("feeds: must be a list", key="feeds")
    return feeds


def _index(doc: CommentedMap, name: str) -> int:
    for i, f in enumerate(_feeds(doc)):
        if isinstance(f, Mapping) and f.get("name") == name:
            return i
    raise NotFoundError(f"no feed named {name!r} in the config", hint="see `aggregator feeds list`")


def add_feed(path: Path, entry: Mapping[str, Any]) -> Config:
    """Append a feed; its name must be new."""

    def change(doc: CommentedMap) -> None:
        feeds = _feeds(doc)
        if any(isinstance(f, Mapping) and f.get("name") == entry["name"] for f in feeds):
            raise UsageError(
                f"a feed named {entry['name']!r} already exists", hint="choose another --name"
            )
        item = CommentedMap()
        for k, v in entry.items():
            item[k] = _seq(v) if isinstance(v, (list, tuple)) else v
        feeds.append(item)

    return edit(path, change)


def _seq(values: Any) -> CommentedSeq:
    s = CommentedSeq(list(values))
    s.fa.set_flow_style()
    return s


def remove_feed(path: Path, name: str) -> Config:
    def change(doc: CommentedMap) -> None:
        feeds = _feeds(doc)
        feeds.pop(_index(doc, name))
        if not feeds:  # ruamel would dump a dangling comment and a bare [] at column 0
            doc["feeds"] = _seq([])

    return edit(path, change)


def set_enabled(path: Path, name: str, enabled: bool) -> Config:
    def change(doc: CommentedMap) -> None:
        item = _feeds(doc)[_index(doc, name)]
        if enabled and "enabled" in item:
            del item["enabled"]
        elif not enabled:
            item["enabled"] = False

    return edit(path, change)


def edit_feed(
    path: Path,
    name: str,
    *,
    title: str | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
) -> Config:
    """Retitle a feed and add or remove tags (a reader app's "rename" and "move to folder")."""

    def change(doc: CommentedMap) -> None:
        item = _feeds(doc)[_index(doc, name)]
        if title:
            item["title"] = title
        if add_tags or remove_tags:
            old = [str(t) for t in item.get("tags") or []]
            tags = [t for t in dict.fromkeys([*old, *add_tags]) if t not in set(remove_tags)]
            if tags:
                item["tags"] = _seq(tags)
            elif "tags" in item:
                del item["tags"]

    return edit(path, change)


def set_url(path: Path, name: str, url: str, comment: str) -> Config:
    """Adopt a permanent redirect, saying so in a comment beside the key."""

    def change(doc: CommentedMap) -> None:
        item = _feeds(doc)[_index(doc, name)]
        item["url"] = url
        item.yaml_add_eol_comment(comment, "url")

    return edit(path, change)
