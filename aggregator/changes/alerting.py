"""Decide which story changes reach a channel, so small edits don't spam the desk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from aggregator.changes.summary import ChangeSummary
from aggregator.changes.topicdelta import TopicDelta


@dataclass(frozen=True)
class ChangeThreshold:
    """Which changes a channel wants to hear about.

    ``min_words`` is the number of words added plus removed that makes a change
    worth an alert on its own; 0 switches that criterion off.  Retractions
    (story pulled) alert unless ``retraction`` is false.
    """

    headline: bool = True
    min_words: int = 20
    topic_change: bool = True
    correction: bool = True
    retraction: bool = True


def should_alert(
    summary: ChangeSummary, delta: TopicDelta, threshold: ChangeThreshold
) -> tuple[bool, list[str]]:
    """Whether to alert, and the reasons the alert will state (empty when not)."""
    reasons = [
        *_story_reasons(summary, threshold),
        *_topic_reasons(delta, threshold),
    ]
    if reasons and summary.is_revert:
        reasons.append("reverted to an earlier version")
    return bool(reasons), reasons


#: What each reason code of a change alert means; the codes are the threshold's keys.
REASONS = {
    "retraction": "story pulled",
    "headline": "headline changed",
    "min_words": "words changed",
    "correction": "correction notice",
    "topic_change": "topic terms introduced or removed",
    "revert": "reverted to an earlier version",
}


def alert_reasons(
    summary: ChangeSummary, delta: TopicDelta, threshold: ChangeThreshold
) -> list[str]:
    """The machine-readable reasons a change alert carries (webhook ``change.reasons``).

    One code per threshold criterion the change met, named like the
    threshold key (``headline``, ``min_words``, ``topic_change``,
    ``correction``, ``retraction``), plus ``revert``; empty when no alert is due.
    """
    met = {
        "retraction": threshold.retraction and summary.retracted,
        "headline": threshold.headline and summary.headline_changed,
        "min_words": 0 < threshold.min_words <= summary.words_changed,
        "correction": threshold.correction and summary.correction is not None,
        "topic_change": threshold.topic_change and bool(delta.introduced or delta.removed),
    }
    codes = [code for code, ok in met.items() if ok]
    if codes and summary.is_revert:
        codes.append("revert")
    return codes


def _story_reasons(summary: ChangeSummary, threshold: ChangeThreshold) -> list[str]:
    reasons = []
    if threshold.retraction and summary.retracted:
        reasons.append("story pulled")
    if threshold.headline and summary.headline_changed:
        reasons.append("headline changed")
    if 0 < threshold.min_words <= summary.words_changed:
        reasons.append(f"{summary.words_changed} words changed")
    if threshold.correction and summary.correction is not None:
        reasons.append("correction notice")
    return reasons


def _topic_reasons(delta: TopicDelta, threshold: ChangeThreshold) -> list[str]:
    if not threshold.topic_change:
        return []
    return [f"topic {t} introduced" for t in delta.introduced] + [
        f"topic {t} removed" for t in delta.removed
    ]


def parse_threshold(mapping: Mapping[str, object] | None) -> ChangeThreshold:
    """Build a threshold from config such as ``{headline: true, min_words: 20}``.

    Missing keys keep their defaults.  Raises ValueError naming the bad key.
    """
    if mapping is None:
        return ChangeThreshold()
    if not isinstance(mapping, Mapping):
        raise ValueError(  # noqa: TRY004 - config errors are ValueErrors
            f"change threshold must be a mapping, not {type(mapping).__name__}"
        )
    known = {f.name for f in fields(ChangeThreshold)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(
            f"unknown change threshold key(s) {', '.join(map(str, unknown))}; "
            f"expected {', '.join(sorted(known))}"
        )
    return ChangeThreshold(
        headline=_flag(mapping, "headline", True),
        min_words=_min_words(mapping.get("min_words", 20)),
        topic_change=_flag(mapping, "topic_change", True),
        correction=_flag(mapping, "correction", True),
        retraction=_flag(mapping, "retraction", True),
    )


def _flag(mapping: Mapping[str, object], key: str, default: bool) -> bool:
    value = mapping.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 - config errors are ValueErrors
            f"change threshold {key} must be true or false, not {value!r}"
        )
    return value


def _min_words(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"change threshold min_words must be a whole number >= 0, not {value!r}")
    return value


def retraction_signal(status: int | None, vanished_from_feed: bool) -> str | None:
    """Why a story looks pulled, or None.

    Only statuses that mean "gone on purpose" count; 5xx and timeouts are
    outages, not retractions.  Callers should confirm on a second re-check
    before alerting, since a CMS can 404 briefly during a republish.
    """
    if status == 404:
        return "page returned 404"
    if status == 410:
        return "page returned 410 Gone"
    if status == 451:
        return "page returned 451 Unavailable For Legal Reasons"
    if vanished_from_feed:
        return "item vanished from its feed while neighbours remain"
    return None
