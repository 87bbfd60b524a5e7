"""feeds.yaml → validated pydantic models.

Errors name the file, the line, the key and what is expected (with a "did you
mean" for unknown keys), so an editor can fix the file without reading code.
``${ENV_VAR}`` (and ``${ENV_VAR:-default}``) is interpolated in string values,
for secrets.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from aggregator.config.alerts import AlertChannel
from aggregator.config.durations import config_duration
from aggregator.config.errors import config_error, located, suggest
from aggregator.exceptions import ConfigError
from aggregator.urls import ambiguous_authority

DEFAULT_USER_AGENT = "aggregator/0.1 (newsroom feed aggregator; +https://example.org/aggregator)"
NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _duration(v: Any) -> timedelta:
    """Pydantic pre-validator: accept '15m', '1h30m' or a timedelta.

    A bare number is refused: `interval: 15` reads as 15 minutes to most people and
    as 15 seconds to a parser, so the unit must be written.
    """
    return config_duration(v)


#: The shortest poll interval a feed (or the defaults) may ask for.
MIN_INTERVAL = timedelta(seconds=30)


def _min_interval(v: timedelta | None) -> timedelta | None:
    if v is not None and v < MIN_INTERVAL:
        raise ValueError("interval must be at least 30s")
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NetworkConfig(_Model):
    allow_private: list[str] = []
    user_agent: str = DEFAULT_USER_AGENT
    timeout: timedelta = timedelta(seconds=30)
    max_bytes: int = 10 * 1024 * 1024
    max_connections: int = Field(default=10, ge=1, le=200)
    max_per_host: int = Field(default=2, ge=1, le=16)
    min_host_interval: timedelta = timedelta(0)

    _dur = field_validator("timeout", "min_host_interval", mode="before")(_duration)

    @field_validator("allow_private")
    @classmethod
    def _hosts_or_networks(cls, v: list[str]) -> list[str]:
        for item in v:
            if "/" in item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as e:
                    raise ValueError(f"{item!r} is not a valid network (e.g. 127.0.0.1/32)") from e
        return v


class Defaults(_Model):
    interval: timedelta = timedelta(minutes=15)
    #: true: fetch every new entry's page and extract it; false: keep the feed's text;
    #: auto: fetch the page only when the feed gave a teaser (aggregator.extract.teaser)
    extract: Literal["auto"] | bool = "auto"
    monitor: bool = True
    #: items read from one feed document, newest first; the rest counted in a warning
    max_items: int = Field(default=500, ge=1, le=100_000)
    #: one poll of one feed (fetch, parse, page extraction, write) may take this long
    poll_budget: timedelta = timedelta(minutes=5)

    _dur = field_validator("interval", "poll_budget", mode="before")(_duration)
    _min = field_validator("interval")(_min_interval)


class ScheduleStep(_Model):
    every: timedelta
    until: timedelta

    _dur = field_validator("every", "until", mode="before")(_duration)


class MonitorConfig(_Model):
    """Change monitoring: the decaying re-check schedule (NewsDiffs-like)."""

    enabled: bool = True
    schedule: list[ScheduleStep] = [
        ScheduleStep(every=timedelta(minutes=15), until=timedelta(hours=3)),
        ScheduleStep(every=timedelta(hours=1), until=timedelta(days=1)),
        ScheduleStep(every=timedelta(hours=3), until=timedelta(days=7)),
        ScheduleStep(every=timedelta(days=1), until=timedelta(days=30)),
    ]


def _check_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v or ""):
        raise ValueError(f"{v!r} is not an http(s) URL")
    ambiguous = ambiguous_authority(v)
    if ambiguous is not None:
        raise ValueError(f"{v!r} is ambiguous ({ambiguous}); write scheme://host[:port]/path")
    return v


class FeedConfig(_Model):
    name: str = Field(pattern=NAME_RE, max_length=100)
    url: str
    interval: timedelta | None = None
    extract: Literal["auto"] | bool | None = None
    monitor: bool | None = None
    tags: list[str] = []
    enabled: bool = True
    title: str | None = None
    html_url: str | None = None  # the site's home page (OPML htmlUrl), kept for export
    max_items: int | None = Field(default=None, ge=1, le=100_000)
    poll_budget: timedelta | None = None

    _dur = field_validator("interval", "poll_budget", mode="before")(
        lambda v: None if v is None else _duration(v)
    )
    _url = field_validator("url")(_check_url)

    _min = field_validator("interval")(_min_interval)


class WatchConfig(_Model):
    """A page with no feed, watched for changes (optionally one CSS-selected part)."""

    name: str = Field(pattern=NAME_RE, max_length=100)
    url: str
    selector: str | None = None
    interval: timedelta = timedelta(hours=1)
    tags: list[str] = []
    enabled: bool = True

    _dur = field_validator("interval", mode="before")(_duration)
    _url = field_validator("url")(_check_url)


class TopicConfig(_Model):
    name: str = Field(pattern=NAME_RE, max_length=100)
    query: str
    # one sentence, or a list: what cross-lingual matching scores sentences against
    description: str | list[str] = ""
    fields: list[Literal["title", "summary", "body"]] = ["title", "summary", "body"]
    languages: list[str] = []
    feeds: list[str] = []
    tags: list[str] = []
    change_threshold: dict[str, Any] | None = None
    # false: only the query's literal words, exactly as before cross-lingual matching
    cross_lingual: bool = True
    # "auto": calibrated on stored articles; a number (0-1) is the semantic threshold
    threshold: Literal["auto"] | float = "auto"

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list):
            return [d.strip() for d in v if d.strip()]
        return v.strip()

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, v: str | float) -> str | float:
        if isinstance(v, float | int) and not 0 < v <= 1:
            raise ValueError("threshold must be auto or a number between 0 and 1 (e.g. 0.5)")
        return v

    def descriptions(self) -> tuple[str, ...]:
        """The description as a tuple of sentences (a string is one)."""
        if isinstance(self.description, list):
            return tuple(self.description)
        return (self.description,) if self.description else ()

    def description_text(self) -> str:
        return " ".join(self.descriptions())


class DaemonConfig(_Model):
    """The long-running daemon: observability endpoint, logging, shutdown."""

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8787, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    grace: timedelta = timedelta(seconds=20)
    tick: timedelta = timedelta(seconds=5)
    lease: timedelta = timedelta(minutes=5)
    min_interval: timedelta = timedelta(minutes=2)
    max_interval: timedelta = timedelta(hours=6)
    max_backoff: timedelta = timedelta(hours=6)
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    failing_after: timedelta = timedelta(hours=6)
    ready_max_alert_age: timedelta = timedelta(minutes=30)
    #: /readyz reports an alert channel whose send has run, or which has kept failing,
    #: for longer than this (a hanging or unreachable receiver)
    ready_max_channel_stall: timedelta = timedelta(minutes=2)

    _dur = field_validator(
        "grace",
        "tick",
        "lease",
        "min_interval",
        "max_interval",
        "max_backoff",
        "failing_after",
        "ready_max_alert_age",
        "ready_max_channel_stall",
        mode="before",
    )(_duration)


_LOOPBACK_NAMES = ("localhost",)


class WebUser(_Model):
    """Someone who may log in to the desk (and to the reader API)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$", max_length=100)
    password: str = Field(min_length=1, repr=False)


class WebConfig(_Model):
    """The desk in a browser: where it listens, its public address, who may log in."""

    listen: str = "127.0.0.1:8788"
    base_url: str | None = None
    users: list[WebUser] = []
    enabled: bool = True  # `aggregator run` serves it unless false

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        split_listen(v)
        return v

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v is None:
            return None
        _check_url(v)
        return v.rstrip("/")

    @field_validator("users")
    @classmethod
    def _unique(cls, v: list[WebUser]) -> list[WebUser]:
        names = [u.name for u in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"user {dup!r} is listed twice")
        return v

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def split_listen(v: str) -> tuple[str, int]:
    """ "127.0.0.1:8788", "[::1]:8788", "localhost:80" → (host, port)."""
    m = re.match(r"^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):(\d{1,5})$", v.strip())
    if m is None or int(m.group(3)) > 65535:
        raise ValueError(f"{v!r} is not HOST:PORT (e.g. 127.0.0.1:8788 or [::1]:8788)")
    return m.group(1) or m.group(2), int(m.group(3))


def is_loopback(host: str) -> bool:
    """Only this machine can reach it: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Config(_Model):
    database: str = "sqlite:///aggregator.db"
    network: NetworkConfig = NetworkConfig()
    defaults: Defaults = Defaults()
    monitor: MonitorConfig = MonitorConfig()
    daemon: DaemonConfig = DaemonConfig()
    feeds: list[FeedConfig] = []
    watches: list[WatchConfig] = []
    topics: list[TopicConfig] = []
    alerts: list[AlertChannel] = []
    web: WebConfig = WebConfig()

    _path: Path | None = PrivateAttr(default=None)

    def check_unique_names(self) -> None:
        """Names are how the CLI and the database refer to things: no two alike."""
        for key, items in (
            ("feeds", self.feeds),
            ("topics", self.topics),
            ("watches", self.watches),
        ):
            _no_duplicates(key, [i.name for i in items])
        _no_duplicates("alerts", [a.name for a in self.alerts])
        seen: dict[str, str] = {}
        for i, f in enumerate(self.feeds):
            same = seen.get(_url_key(f.url))
            if same is not None:
                raise _DuplicateName(
                    "feeds",
                    i,
                    f.url,
                    f"{f.url} is already the URL of feed {same!r}: one feed per URL",
                    field="url",
                )
            seen[_url_key(f.url)] = f.name

    def emptiness_warning(self) -> str | None:
        """What to tell a user whose feeds.yaml configures nothing to poll or match."""
        if self.feeds or self.watches:
            return None
        topics = "" if self.topics else " and no topics"
        return (
            f"{self.path or 'feeds.yaml'} has no feeds{topics}: nothing will be polled "
            "(add one with `aggregator feeds add URL`, see README)"
        )

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config's folder."""
        return resolve_database_url(self.database, self.base_dir)

    def feed(self, name: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.name == name), None)

    def extract_mode(self, feed: FeedConfig) -> Literal["auto"] | bool:
        """`feed`'s extraction setting (its own, else the default): true, false or "auto"."""
        return feed.extract if feed.extract is not None else self.defaults.extract

    def extracts(self, feed: FeedConfig) -> bool:
        """Whether `feed`'s articles may be fetched and extracted (true or auto)."""
        return self.extract_mode(feed) is not False

    def max_items(self, feed: FeedConfig) -> int:
        """Items read from one document of `feed` (its own cap, else the default)."""
        return feed.max_items if feed.max_items is not None else self.defaults.max_items

    def poll_budget(self, feed: FeedConfig) -> timedelta:
        """How long one poll of `feed` may take (its own budget, else the default)."""
        return feed.poll_budget if feed.poll_budget is not None else self.defaults.poll_budget

    def monitors(self, feed: FeedConfig) -> bool:
        """Whether `feed`'s articles are re-checked (its own setting, else the default)."""
        return feed.monitor if feed.monitor is not None else self.defaults.monitor


def _no_duplicates(key: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise _DuplicateName(key, i, n)
        seen.add(n)


def _url_key(url: str) -> str:
    """Two spellings of one feed URL: scheme and host case, a trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}?{parts.query}"


class _DuplicateName(ValueError):
    def __init__(
        self, key: str, index: int, name: str, message: str | None = None, *, field: str = "name"
    ) -> None:
        super().__init__(message or f"duplicate name {name!r}: names in {key} must be unique")
        self.loc = (key, index, field)
        self.hint = "remove one of the two entries" if field == "url" else "rename one of them"


def resolve_database_url(url: str, base: Path) -> str:
    """sqlite:///rel.db is relative to the config file's folder; sqlite:////abs stays."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


# --------------------------------------------------------------------------- loading


def default_config_path() -> Path:
    return Path(os.environ.get("AGGREGATOR_CONFIG") or "feeds.yaml")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, interpolate and validate feeds.yaml; raise ConfigError naming file, line, key."""
    p = Path(path) if path is not None else default_config_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(
            f"{p}: no such file", path=str(p), hint="create it (see README), or pass --config PATH"
        ) from e
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}", path=str(p)) from e
    return parse_config(text, path=p)


def parse_config(text: str, *, path: Path | None = None) -> Config:
    """Validate YAML text; `path` is used for messages and relative paths."""
    where = str(path) if path else "<config>"
    tree = _load_yaml(text, where)
    data = _interpolate(_to_plain(tree), (), where, tree)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise config_error(e, where, tree, Config) from None
    try:
        cfg.check_unique_names()
    except _DuplicateName as e:
        raise located(where, tree, e.loc, str(e), e.hint) from None
    _validate_extras(cfg, where, tree)
    cfg._path = path.resolve() if path else None
    return cfg


def _load_yaml(text: str, where: str) -> Any:
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        msg = f"{where}:{line or '?'}: invalid YAML: {getattr(e, 'problem', e)}"
        raise ConfigError(
            msg, path=where, line=line, hint="check indentation and quoting near that line"
        ) from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise ConfigError(
            f"{where}: the top level must be a mapping of keys (database, feeds, ...)",
            path=where,
            line=1,
        )
    return tree


def _to_plain(node: Any) -> Any:
    """ruamel round-trip nodes → plain dict/list/scalars for pydantic."""
    if isinstance(node, Mapping):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _interpolate(node: Any, loc: tuple[Any, ...], where: str, tree: Any) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string; an unset VAR is an error."""
    if isinstance(node, dict):
        return {k: _interpolate(v, loc + (k,), where, tree) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, loc + (i,), where, tree) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        return _ENV_RE.sub(lambda m: _env_value(m, loc, where, tree), node)
    return node


def _env_value(m: re.Match[str], loc: tuple[Any, ...], where: str, tree: Any) -> str:
    value = os.environ.get(m.group(1))
    if value is not None:
        return value
    if m.group(2) is not None:
        return m.group(2)
    raise located(
        where,
        tree,
        loc,
        f"environment variable {m.group(1)} is not set",
        f"export {m.group(1)}=... before starting, or write ${{{m.group(1)}:-default}}",
    )


def _validate_extras(cfg: Config, where: str, tree: Any) -> None:
    """Cross-field checks pydantic cannot do alone: queries, channels, references."""
    _validate_topics(cfg, where, tree)
    _validate_alerts(cfg, where, tree)


def _validate_topics(cfg: Config, where: str, tree: Any) -> None:
    feed_names = {f.name for f in cfg.feeds} | {w.name for w in cfg.watches}
    for i, t in enumerate(cfg.topics):
        _check_query(t, i, where, tree)
        for j, name in enumerate(t.feeds):
            if name not in feed_names:
                raise located(
                    where,
                    tree,
                    ("topics", i, "feeds", j),
                    f"no feed named {name!r}",
                    suggest(name, feed_names),
                )


def _check_query(topic: TopicConfig, index: int, where: str, tree: Any) -> None:
    from aggregator.exceptions import QuerySyntaxError
    from aggregator.query.syntax import validate_query

    try:
        validate_query(topic.query)
    except QuerySyntaxError as e:
        raise located(
            where,
            tree,
            ("topics", index, "query"),
            f"{e.message} at column {e.column}\n{e.pointer()}",
            e.hint or "see the query language in README.md",
        ) from None


def _validate_alerts(cfg: Config, where: str, tree: Any) -> None:
    """Channels were parsed with the config; what is left is their topic references."""
    topic_names = {t.name for t in cfg.topics}
    for i, channel in enumerate(cfg.alerts):
        for j, name in enumerate(channel.topics):
            if name not in topic_names:
                raise located(
                    where,
                    tree,
                    ("alerts", i, "topics", j),
                    f"no topic named {name!r}",
                    suggest(name, topic_names),
                )
