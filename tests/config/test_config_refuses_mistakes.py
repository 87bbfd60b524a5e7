"""feeds.yaml refuses the mistakes a new user makes, and says all of them at once (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.alerts.registry import parse_channel
from aggregator.config.models import parse_config
from aggregator.exceptions import ConfigError

BASE = "feeds:\n  - name: a\n    url: https://a.example.org/rss\n"


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=Path("feeds.yaml"))
    return info.value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("defaults:\n  interval: 15\n" + BASE, "defaults.interval"),
        (BASE + "    interval: 15\n", "feeds[0].interval"),
        ("network:\n  timeout: 30\n" + BASE, "network.timeout"),
        ("daemon:\n  tick: '5'\n" + BASE, "daemon.tick"),
    ],
)
def test_bare_numbers_are_refused_for_durations(text: str, key: str) -> None:
    error = _error(text)
    assert error.key == key
    assert "has no unit" in error.message and (
        "15m" in error.message or "m for minutes" in error.message
    )


def test_defaults_have_the_feeds_minimum() -> None:
    error = _error("defaults:\n  interval: 10s\n" + BASE)
    assert error.key == "defaults.interval" and "at least 30s" in error.message
    assert error.hint == "write e.g. interval: 15m"


def test_the_same_url_twice_names_the_existing_feed() -> None:
    text = BASE + "  - name: b\n    url: https://A.example.org/rss/\n"
    error = _error(text)
    assert error.line == 5 and error.key == "feeds[1].url"
    assert "already the URL of feed 'a'" in error.message


def test_a_single_recipient_may_be_a_string() -> None:
    channel = parse_channel(
        {"name": "m", "kind": "email", "to": "desk@example.org", "from": "a@example.org"}
        | {"smtp": {"host": "smtp.example.org"}}
    )
    assert channel.to == ["desk@example.org"]  # type: ignore[attr-defined]


def test_every_problem_is_reported_with_file_line_key_and_hint() -> None:
    text = (
        "defaults:\n"
        "  interval: 15\n"  # line 2
        "feeds:\n"
        "  - name: Bad Name\n"  # line 4
        "    url: https://a.example.org/rss\n"
        "    intervall: 15m\n"  # line 6
        "  - name: b\n"
        "    url: https://b.example.org/rss\n"
        "    interval: 10s\n"  # line 9
    )
    error = _error(text)
    lines = error.message.splitlines()
    assert lines[0] == "feeds.yaml: 4 problems"
    assert any(line.strip().startswith("feeds.yaml:2: defaults.interval:") for line in lines)
    assert any(line.strip().startswith("feeds.yaml:4: feeds[0].name:") for line in lines)
    assert any(line.strip().startswith("feeds.yaml:6: feeds[0].intervall:") for line in lines)
    assert any(line.strip().startswith("feeds.yaml:9: feeds[1].interval:") for line in lines)
    assert "hint: did you mean 'interval'?" in error.message
    assert "hint: names use lower-case letters" in error.message
    assert "more problem" not in error.message
    assert (error.line, error.key) == (2, "defaults.interval")


def test_a_value_that_fits_no_member_of_a_union_is_one_problem_at_its_key() -> None:
    """`threshold: auto | number`: one line at `threshold`, not one per union member."""
    topic = "topics:\n  - name: t\n    query: chip*\n    threshold: high\n"
    error = _error(BASE + topic)
    assert error.key == "topics[0].threshold" and error.line == 7
    assert "expected 'auto' or a number, got 'high'" in error.message
    assert "literal[" not in error.message and "problems" not in error.message
    # beside another mistake, still one line for the union
    error = _error(BASE + "    intervall: 15m\n" + topic)
    assert error.message.splitlines()[0] == "feeds.yaml: 2 problems"
    assert "topics[0].threshold: expected 'auto' or a number" in error.message
