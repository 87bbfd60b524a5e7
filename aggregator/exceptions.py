"""One exception root for the whole package.

Foreign errors (httpx, SQLAlchemy, feedparser, trafilatura, smtplib ...) are
translated once, at the boundary where they occur, with ``raise X from e`` so
that callers only ever catch :class:`AggregatorError` subclasses.  Every
user-facing error carries a ``hint``: the CLI prints message and hint and exits
non-zero, never a traceback.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(AggregatorError):
    """feeds.yaml (or a CLI argument that edits it) is invalid. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line
        self.key = key


class UsageError(AggregatorError):
    """The command line was wrong (unknown feed name, bad option value). Exit 2."""

    exit_code = 2


class QuerySyntaxError(AggregatorError):
    """A topic query does not parse; ``column`` is 1-based."""

    exit_code = 2

    def __init__(self, message: str, *, query: str, column: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.query = query
        self.column = column

    def pointer(self) -> str:
        """The query with a caret under the offending column."""
        return f"{self.query}\n{' ' * (self.column - 1)}^"


class FetchError(AggregatorError):
    """A URL could not be fetched. ``kind`` says why, for metrics and decisions.

    kinds: http (status >= 400), timeout, too_large, blocked (SSRF guard or
    scheme), redirects (loop or too many), network, protocol (bad encoding ...).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.url = url
        self.status = status
        self.retry_after = retry_after


class _FetchErrorOfKind(FetchError):
    """A FetchError whose class says its ``kind``: catch the class, or read ``kind``."""

    KIND = ""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message, kind=self.KIND, url=url, status=status, retry_after=retry_after, hint=hint
        )


class FetchTimeoutError(_FetchErrorOfKind):
    """No answer in time: the total deadline, the connect timeout or a silent server."""

    KIND = "timeout"


class FetchNetworkError(_FetchErrorOfKind):
    """No connection: DNS, refused, reset, TLS."""

    KIND = "network"


class FetchProtocolError(_FetchErrorOfKind):
    """The exchange broke HTTP's rules: a bad URL or response, a bad or stacked encoding."""

    KIND = "protocol"


class HTTPStatusError(_FetchErrorOfKind):
    """The server answered with a status >= 400 (``status``, ``retry_after``)."""

    KIND = "http"


class BodyTooLargeError(_FetchErrorOfKind):
    """The body passed network.max_bytes (after decompression)."""

    KIND = "too_large"


class RedirectError(_FetchErrorOfKind):
    """A redirect loop, too many redirects, or a redirect a webhook must not follow."""

    KIND = "redirects"


class BlockedURLError(FetchError):
    """The URL's scheme or resolved address is not allowed (SSRF guard)."""

    def __init__(self, message: str, *, url: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            kind="blocked",
            url=url,
            hint=hint
            or "add the host or its network to network.allow_private in feeds.yaml "
            "if this address is really meant to be reached",
        )


class ParseError(AggregatorError):
    """A body is not a feed we can read (nothing usable in it)."""


class ExtractError(AggregatorError):
    """Article extraction failed or timed out; the pipeline falls back to feed content."""


class StorageError(AggregatorError):
    """The database failed (unreachable, locked, migration failed)."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or opened (server down, bad URL, no file access)."""


class DatabaseBusyError(StorageError):
    """The database stayed locked or a transaction could not be serialised: worth a retry."""


class SchemaError(StorageError):
    """The database's tables are missing or older than this version expects."""


class IntegrityViolationError(StorageError):
    """A write broke a constraint of the schema (a bug, or a concurrent writer)."""


class NotFoundError(AggregatorError):
    """A feed, article, alert or topic named by the user does not exist. Exit 2."""

    exit_code = 2


class DeliveryError(AggregatorError):
    """An alert could not be delivered. ``permanent`` means do not retry."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent
        self.retry_after = retry_after
