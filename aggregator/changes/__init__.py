"""Change monitoring for stored stories: what counts as an edit, what changed, who to tell.

The daemon re-checks each stored article on a decaying schedule
(:func:`next_recheck`).  A re-check whose :func:`comparable_hash` equals the
latest version's stores only the check time; one equal to an earlier version's
is a revert; anything else is a new version, summarised by
:func:`summarize_change` and alerted through :func:`should_alert`.  Everything
here is pure: storage, fetching and clocks belong to the caller.
"""

from __future__ import annotations

from aggregator.changes.alerting import (
    REASONS,
    ChangeThreshold,
    alert_reasons,
    parse_threshold,
    retraction_signal,
    should_alert,
)
from aggregator.changes.cadence import (
    DEFAULT_SCHEDULE,
    RecheckSchedule,
    next_recheck,
    parse_schedule,
    schedule_of,
)
from aggregator.changes.corrections import find_correction, is_correction_notice
from aggregator.changes.diff import DiffOp, changed_words, side_text, word_diff
from aggregator.changes.normalize import (
    comparable_hash,
    comparable_lines,
    comparable_text,
    learn_boilerplate,
    line_key,
)
from aggregator.changes.passages import Passage, changed_passages, passage_lines
from aggregator.changes.passages import cap as cap_passages
from aggregator.changes.render import render_html, render_json, render_text, text_diff
from aggregator.changes.summary import (
    SUBSTANTIAL_WORDS,
    ChangeSummary,
    is_revert,
    retraction_summary,
    summarize_change,
)
from aggregator.changes.topicdelta import TopicDelta, topic_delta

__all__ = [
    "Passage",
    "cap_passages",
    "changed_passages",
    "passage_lines",
    "REASONS",
    "alert_reasons",
    "DEFAULT_SCHEDULE",
    "SUBSTANTIAL_WORDS",
    "ChangeSummary",
    "ChangeThreshold",
    "DiffOp",
    "RecheckSchedule",
    "TopicDelta",
    "changed_words",
    "comparable_hash",
    "comparable_lines",
    "comparable_text",
    "find_correction",
    "is_correction_notice",
    "is_revert",
    "learn_boilerplate",
    "line_key",
    "next_recheck",
    "parse_schedule",
    "parse_threshold",
    "render_html",
    "render_json",
    "render_text",
    "retraction_signal",
    "schedule_of",
    "retraction_summary",
    "should_alert",
    "side_text",
    "summarize_change",
    "text_diff",
    "topic_delta",
    "word_diff",
]
