"""Failing feeds at a glance: "all 17 feeds failing: DNS" for `feeds list`, `/healthz`
and the daemon's hourly log line.

Apart from the source-health rules (``daemon.health``, which plan alerts and so load
the alert stack) because `feeds list` prints this line and must start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aggregator.config.models import Config
from aggregator.types import FeedState

#: Causes of a failed poll, recognised in its error text, most specific first.
_CAUSES = (
    (
        "DNS",
        (
            "could not find the address",
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "getaddrinfo",
            "no address associated",
            "dns",
        ),
    ),
    ("timeout", ("timed out", "timeout")),
    ("connection refused", ("connection refused",)),
    ("TLS", ("ssl", "tls", "certificate")),
    ("blocked", ("blocked", "not public", "private address")),
    ("not a feed", ("not a feed", "html page", "parse")),
)


def failure_cause(error: str | None) -> str:
    """One word for why a poll failed: DNS, timeout, HTTP 503, TLS ... (else "other")."""
    text = (error or "").lower()
    for cause, needles in _CAUSES:
        if any(n in text for n in needles):
            return cause
    if (status := _http_status(text)) is not None:
        return f"HTTP {status}"
    return "other"


def _http_status(text: str) -> str | None:
    match = re.search(r"\bhttp (\d{3})\b", text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class FailingFeeds:
    """How many enabled feeds failed their last poll, and why: the operator's first question."""

    total: int
    failing: tuple[tuple[str, str], ...]  # (feed, cause)

    @property
    def causes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, cause in self.failing:
            counts[cause] = counts.get(cause, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def line(self) -> str:
        """ "all 17 feeds failing: DNS" / "3 of 17 feeds failing: DNS (2), HTTP 503 (1)"."""
        n = len(self.failing)
        if not self.total:
            return "no feeds configured"
        if not n:
            return "1 feed, ok" if self.total == 1 else f"all {self.total} feeds ok"
        causes = self.causes
        why = (
            next(iter(causes))
            if len(causes) == 1
            else ", ".join(f"{c} ({k})" for c, k in causes.items())
        )
        if n == self.total:
            return f"1 feed, failing: {why}" if n == 1 else f"all {n} feeds failing: {why}"
        return f"{n} of {self.total} feeds failing: {why}"

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "failing": len(self.failing),
            "causes": self.causes,
            "summary": self.line(),
            "failing_feeds": [f for f, _ in self.failing[:50]],
        }


def failing_feeds(config: Config, states: dict[str, FeedState]) -> FailingFeeds:
    """Enabled feeds of the config whose last poll failed, with the cause of each."""
    enabled = [f.name for f in config.feeds if f.enabled]
    failing = tuple(
        (name, failure_cause(s.last_error))
        for name in enabled
        if (s := states.get(name)) is not None and s.error_count > 0 and not s.disabled_reason
    )
    return FailingFeeds(len(enabled), failing)
