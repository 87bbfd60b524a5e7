"""Edit feeds.yaml in place, keeping its comments, order and formatting.

Every edit is validated as a whole config before the file is touched, so a CLI
edit can never leave a broken file for the daemon's live reload to trip on.

The file the user set up stays theirs: an edit goes through a symlink to its
target (the link stays a link), keeps the mode and owner, and a read-only file
is refused rather than silently replaced. The write is atomic (a temp file
beside the target, fsync, rename); where rename is impossible (a Docker
single-file bind mount answers EBUSY, a folder we may not create files in),
the already-validated text is rewritten in place and fsynced.
"""

from __future__ import annotations

import errno
import io
import os
import stat
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
    write_config_text(path, new_text)
    return cfg


#: rename(2) failures that mean "this file cannot be replaced", not "something broke":
#: EBUSY (bind-mounted file), EXDEV (target on another mount), EACCES/EPERM/EROFS on the
#: folder while the file itself is writable.
_NO_RENAME = {errno.EBUSY, errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS, errno.EINVAL}


def write_config_text(path: Path, text: str) -> None:
    """Replace the contents of the file behind `path` with `text`, keeping the file's identity."""
    target = Path(os.path.realpath(path))  # through symlinks: the link stays a link
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        _refuse_read_only(target, st)
    data = text.encode("utf-8")
    try:
        _replace(target, data, st)
    except OSError as e:
        if st is None or e.errno not in _NO_RENAME:
            raise _write_error(target, e) from e
        try:
            _rewrite_in_place(target, data)
        except OSError as e2:
            raise _write_error(target, e2) from e2


def _refuse_read_only(target: Path, st: os.stat_result) -> None:
    """No write bit at all (root could write anyway) or no write access: leave it alone."""
    if st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) and os.access(target, os.W_OK):
        return
    raise ConfigError(
        f"{target} is read-only: not edited",
        path=str(target),
        hint=f"make it writable (chmod u+w {target}) or edit it where it is managed",
    )


def _replace(target: Path, data: bytes, st: os.stat_result | None) -> None:
    """Temp file beside the target with its mode and owner, fsync, rename over it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if st is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)  # EPERM: keep it in place
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _rewrite_in_place(target: Path, data: bytes) -> None:
    """Same inode, same mode and owner: write from the start, cut the tail, fsync."""
    with open(target, "r+b") as f:
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(target: Path, e: OSError) -> ConfigError:
    return ConfigError(
        f"{target}: cannot write: {e.strerror or e}",
        path=str(target),
        hint="check the file's and its folder's permissions and free space",
    )


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
    interval: str | None = None,
    extract: bool | None = None,
    monitor: bool | None = None,
    url: str | None = None,
) -> Config:
    """Change one feed in place, its comments and the rest of the file kept: retitle it,
    add or remove tags (a reader app's "rename" and "move to folder"), set its interval,
    extraction, monitoring or URL (`aggregator feeds edit`). None leaves a key alone; the
    edited file is validated before it replaces the old one."""

    def change(doc: CommentedMap) -> None:
        item = _feeds(doc)[_index(doc, name)]
        if title:
            item["title"] = title
        for key, value in (("url", url), ("interval", interval)):
            if value is not None:
                item[key] = value
        for key, flag in (("extract", extract), ("monitor", monitor)):
            if flag is not None:
                item[key] = flag
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


def set_topic_query(path: Path, name: str, query: str) -> Config:
    """Replace one topic's query (``topics expand --write``), keeping comments elsewhere."""

    def change(doc: CommentedMap) -> None:
        topics = doc.get("topics") or []
        for entry in topics:
            if isinstance(entry, dict) and entry.get("name") == name:
                entry["query"] = query
                return
        raise ConfigError(f"no topic named {name!r} in {path}", hint="aggregator topics list")

    return edit(path, change)
