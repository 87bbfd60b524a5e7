"""Structured logs: one line per event, text for people or JSON for collectors.

Every line names the worker; a line about a feed names the feed (the pipeline
passes ``extra={"feed": name}``), so `grep feed=le-monde` or a JSON query
finds a feed's whole story across workers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from aggregator.urls import redact_text

#: LogRecord's own attributes; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record (feed, worker, ...)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "msg", "worker", "feed", ...} per line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _stamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(extras(record))
        if record.exc_info:
            data["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2025-02-03T12:36:00.000+00:00 WARNING aggregator.ingest.pipeline msg feed=x worker=y`."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in extras(record).items())
        line = f"{_stamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return line


class RedactFilter(logging.Filter):
    """Credentials in any URL a log line carries (message, arguments, exception) are masked.

    On the handler, so it sees every record whichever logger made it: a feed URL's
    ``user:pass@`` or ``?api_key=`` never reaches a log file or a collector.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)  # formatters reuse it instead of re-rendering
        for key, value in extras(record).items():
            if isinstance(value, str) and "://" in value:
                setattr(record, key, redact_text(value))
        return True


class WorkerFilter(logging.Filter):
    """Stamp every record with the worker id (set on the handler, so all loggers get it)."""

    def __init__(self, worker: str) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "worker"):
            record.worker = self.worker
        return True


def setup_logging(
    fmt: str, level: str, worker: str, stream: TextIO | None = None
) -> logging.Handler:
    """Route the root logger to `stream` (stderr) in the chosen format; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(WorkerFilter(worker))
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_aggregator", False)]:
        root.removeHandler(old)
    handler._aggregator = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO: one line a second says nothing.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler


def cli_logging() -> None:
    """The command line's warnings on stderr, as Python's last-resort handler prints them,
    but redacted; the daemon's `setup_logging` replaces this handler."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactFilter())
    handler._aggregator = True  # type: ignore[attr-defined]
    root.addHandler(handler)
