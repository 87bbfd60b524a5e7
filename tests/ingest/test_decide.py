"""The poll's pure decisions (ingest.decide), without a database or a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.http.fetcher import FetchResult
from aggregator.ingest import decide
from aggregator.storage.records import FeedMeta, FeedState, KnownEntry

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)


def state(**kw: object) -> FeedState:
    base: dict[str, object] = dict(
        id=7,
        name="wire",
        url="http://127.0.0.1:9/feed.xml",
        etag='"old"',
        last_modified="Sun, 01 Mar 2026 10:00:00 GMT",
        body_hash="h0",
        identity_rule=None,
        disabled_reason=None,
        error_count=0,
        next_due_at=None,
        last_success_at=None,
        last_new_at=None,
        avg_new_interval_s=None,
        failing_since=None,
        health=None,
    )
    base.update(kw)
    return FeedState(**base)  # type: ignore[arg-type]


def fetched(**kw: object) -> FetchResult:
    base: dict[str, object] = dict(
        url="http://127.0.0.1:9/feed.xml",
        final_url="http://127.0.0.1:9/feed.xml",
        status=200,
        headers={},
        content=b"<rss/>",
        etag=None,
        last_modified=None,
        not_modified=False,
        permanent_redirect=None,
        content_type="application/rss+xml",
        max_age=None,
        elapsed=0.01,
        content_hash="h1",
    )
    base.update(kw)
    return FetchResult(**base)  # type: ignore[arg-type]


def every_hour(_state: FeedState, _outcome: decide.PollOutcome, now: datetime) -> datetime:
    return now + H


# ------------------------------------------------------------------ identity


def test_identity_rules_only_degrade() -> None:
    assert decide.pinned_rule(None, "id") == "id"
    assert decide.pinned_rule("url", "id") == "url"  # ids went missing once: stay on urls
    assert decide.pinned_rule("id", "hash") == "hash"
    assert decide.pinned_rule("hash", "url") == "hash"


# ------------------------------------------------------------------ entries


def test_plan_sorts_listed_entries_into_fresh_changed_returning_and_gone() -> None:
    stored = {
        "a": KnownEntry(1, "fa", when=T0 - 5 * H),
        "b": KnownEntry(2, "fb-old", when=T0 - 4 * H),
        "c": KnownEntry(3, "fc", gone=True, when=T0 - 3 * H),
        "d": KnownEntry(4, "fd", when=T0 - 2 * H),
    }
    plan = decide.plan_entries({"new": "fn", "a": "fa", "b": "fb", "c": "fc"}, stored)
    assert plan.fresh == ("new",)
    assert plan.touched == (("b", "fb"),)
    assert plan.recheck == (2,)
    assert plan.seen == ("c",)
    assert plan.gone == ("d",)
    assert plan.retract == (4,)  # newer than items the feed still lists


def test_a_rolling_window_is_not_a_retraction() -> None:
    stored = {
        "old": KnownEntry(1, "f1", when=T0 - 9 * H),
        "mid": KnownEntry(2, "f2", when=T0 - 5 * H),
    }
    plan = decide.plan_entries({"mid": "f2", "new": "f3"}, stored)
    assert plan.gone == ("old",)
    assert plan.retract == ()  # the oldest item dropped off the end


def test_an_empty_document_marks_nothing_gone() -> None:
    stored = {"a": KnownEntry(1, "f1", when=T0)}
    plan = decide.plan_entries({}, stored)
    assert plan.gone == () and plan.retract == () and plan.fresh == ()


def test_retractions_carry_a_summary_of_the_title_and_recheck_now() -> None:
    [r] = decide.retractions([4], {4: "Minister resigns"}, T0)
    assert r.article_id == 4 and r.next_check_at == T0
    assert r.reason == decide.VANISHED
    assert r.summary["kind"] == "retraction" and r.summary["reasons"] == [decide.VANISHED]


# ------------------------------------------------------------------ fetch state


def test_rhythm_is_an_exponential_moving_average_of_gaps() -> None:
    first = decide.rhythm(state(), T0)
    assert first == decide.Rhythm(T0, None)
    second = decide.rhythm(state(last_new_at=T0 - 2 * H), T0)
    assert second.avg_new_interval_s == 7200
    third = decide.rhythm(state(last_new_at=T0 - H, avg_new_interval_s=7200.0), T0)
    assert third.avg_new_interval_s == 0.7 * 7200 + 0.3 * 3600


def test_success_keeps_old_validators_and_records_the_body() -> None:
    meta = FeedMeta("Wire", 30, "id")
    u = decide.success_update(
        state(error_count=3, failing_since=T0 - H), fetched(), meta, T0, new=0, schedule=every_hour
    )
    assert u.ok and u.error is None and u.error_count == 0 and u.failing_since is None
    assert (u.etag, u.last_modified) == ('"old"', "Sun, 01 Mar 2026 10:00:00 GMT")
    assert u.body_hash == "h1" and u.meta == meta and u.next_due_at == T0 + H
    assert u.last_new_at is None  # nothing new: the rhythm is not touched


def test_success_with_new_items_schedules_on_the_updated_rhythm() -> None:
    seen: list[float | None] = []

    def schedule(s: FeedState, outcome: decide.PollOutcome, now: datetime) -> datetime:
        seen.append(s.avg_new_interval_s)
        assert outcome.ok and outcome.new == 2
        return now + H

    u = decide.success_update(
        state(last_new_at=T0 - 2 * H), fetched(), None, T0, new=2, schedule=schedule
    )
    assert seen == [7200.0]
    assert u.last_new_at == T0 and u.avg_new_interval_s == 7200.0


def test_a_304_writes_no_body_hash() -> None:
    u = decide.success_update(
        state(),
        fetched(status=304, not_modified=True, etag='"new"'),
        None,
        T0,
        new=0,
        schedule=every_hour,
    )
    assert u.body_hash is None and u.etag == '"new"' and u.meta is None


def test_failure_counts_errors_and_a_410_disables() -> None:
    s = state(error_count=2, failing_since=T0 - H)
    gone = decide.failure_update(
        s, decide.Failure("410 Gone", "http", status=410), T0, schedule=every_hour
    )
    assert not gone.ok and gone.error_count == 3 and gone.failing_since == T0 - H
    assert gone.disabled_reason is not None and gone.disabled_reason.startswith("410 Gone at")
    busy = decide.failure_update(
        state(),
        decide.Failure("429", "http", status=429, retry_after=120),
        T0,
        schedule=every_hour,
    )
    assert busy.retry_after_until == T0 + timedelta(seconds=120)
    assert busy.failing_since == T0 and busy.disabled_reason is None
    year = decide.failure_update(
        state(),
        decide.Failure("429", "http", status=429, retry_after=365 * 86400),
        T0,
        schedule=every_hour,
    )
    # the wait every command honours is bounded like the feed's own (issue 13 #17)
    assert year.retry_after_until == year.next_due_at == T0 + H
    html = decide.failure_update(
        state(),
        decide.Failure("not a feed", "parse", looks_like_html=True),
        T0,
        schedule=every_hour,
    )
    assert html.health == "html"
