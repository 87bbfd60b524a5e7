"""The outbox dispatcher: grouping, digests, marking only after acceptance, giving up."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.alerts.dispatch import OutboxItem, deliver_due, near_duplicate, plan
from aggregator.alerts.email import EmailChannel
from aggregator.alerts.types import AlertEvent, Delivery
from aggregator.config.alerts import ChannelConfig, EmailChannelConfig, parse_channel
from aggregator.exceptions import DeliveryError, StorageError
from tests.support.outbox import T0, MemoryOutbox, article, change_event, match_event
from tests.support.smtp import SmtpServer


class Recorder:
    """A channel that records what it was asked to send and fails as scripted."""

    def __init__(self, config: ChannelConfig, *failures: Exception) -> None:
        self.name = config.name
        self.config = config
        self.failures = list(failures)
        self.sent: list[tuple[AlertEvent, ...]] = []

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        self.sent.append(tuple(events))
        if self.failures:
            raise self.failures.pop(0)
        return Delivery("HTTP 200")


def config(**kw: Any) -> ChannelConfig:
    return parse_channel({"name": "desk", "kind": "apprise", "urls": ["json://x"], **kw})


async def run(outbox: MemoryOutbox, channel: Recorder, now: datetime, seed: int = 1) -> Any:
    return await deliver_due(
        outbox,
        {"desk": channel},
        {"desk": channel.config},
        now=now,
        worker="w1",
        rng=random.Random(seed),
    )


def copy(
    alert_id: str,
    article_id: int,
    feed: str,
    fingerprint: int,
    *,
    topic: str = "t",
    at: datetime = T0,
) -> AlertEvent:
    art = article(article_id, feed=feed, fingerprint=fingerprint, title=f"Chip curbs ({feed})")
    return match_event(alert_id, topic=topic, created_at=at, art=art)


async def test_wire_copies_go_out_as_one_alert_listing_every_source() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config())
    ids = [
        outbox.add(copy("m-1", 1, "reuters", 0b1011_0000)),
        outbox.add(copy("m-2", 2, "afp", 0b1011_0011, at=T0 + timedelta(seconds=40))),
        outbox.add(copy("m-3", 3, "dpa", 0b0011_0001, at=T0 + timedelta(seconds=70))),
    ]
    report = await run(outbox, channel, T0 + timedelta(minutes=3))
    assert report.sent == 3 and all(outbox.status(i) == "sent" for i in ids)
    [[event]] = channel.sent
    assert event.alert_id == "m-1"
    assert event.article is not None and event.article.feeds == ("reuters", "afp", "dpa")
    assert [s.url for s in event.article.sources] == [
        "https://news.example.org/reuters/1",
        "https://news.example.org/afp/2",
        "https://news.example.org/dpa/3",
    ]


@pytest.mark.parametrize(
    "second",
    [
        copy("m-2", 2, "afp", 0b1011_1111),  # 4 bits apart
        copy("m-2", 2, "afp", 0b1011_0000, topic="other"),  # other topic
        copy("m-2", 2, "afp", 0b1011_0000, at=T0 + timedelta(minutes=5)),  # outside the window
        replace(copy("m-2", 2, "afp", 0), article=article(2, fingerprint=None)),  # no fingerprint
    ],
)
def test_not_grouped(second: AlertEvent) -> None:
    first = copy("m-1", 1, "reuters", 0b1011_0000)
    items = [
        OutboxItem(1, first, 0, first.created_at, first.created_at),
        OutboxItem(2, second, 0, second.created_at, second.created_at),
    ]
    assert len(plan(items, {"desk": config()})) == 2


def test_change_alerts_are_never_merged() -> None:
    a, b = change_event("c-1"), change_event("c-2")
    items = [OutboxItem(1, a, 0, T0, T0), OutboxItem(2, b, 0, T0, T0)]
    assert len(plan(items, {"desk": config()})) == 2


def test_near_duplicate_tolerates_signed_storage() -> None:
    assert near_duplicate(-1, (1 << 64) - 1)  # the same 64 bits, read back as a signed BIGINT
    assert near_duplicate(0b111, 0) and not near_duplicate(0b1111, 0)
    assert not near_duplicate(None, 0)


async def test_digest_sends_everything_due_in_one_message_but_tests_alone() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config(digest="1h"))
    for n, topic in enumerate(["b-topic", "a-topic", "b-topic"], start=1):
        outbox.add(
            copy(f"m-{n}", n, f"feed{n}", 0xFFFF << (16 * n), topic=topic), hold=timedelta(hours=1)
        )
    outbox.add(AlertEvent("test-1", "test", "desk", None, T0))
    report = await run(outbox, channel, T0 + timedelta(hours=1))
    assert report.sent == 4
    digest, test = channel.sent
    assert [e.alert_id for e in digest] == ["m-1", "m-2", "m-3"]
    assert [e.event for e in test] == ["test"]


async def test_items_are_not_due_before_their_window() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config())
    outbox.add(match_event(), hold=timedelta(minutes=2))
    assert (await run(outbox, channel, T0 + timedelta(minutes=1))).sent == 0
    assert (await run(outbox, channel, T0 + timedelta(minutes=2))).sent == 1


async def test_crash_between_accept_and_mark_resends_with_the_same_id() -> None:
    class CrashOnce(MemoryOutbox):
        crashed = False

        def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
            if not self.crashed:
                self.crashed = True
                raise StorageError("database went away")
            super().mark_sent(ids, now, detail)

    outbox, channel = CrashOnce(), Recorder(config())
    row = outbox.add(match_event("m-77"))
    with pytest.raises(StorageError):
        await run(outbox, channel, T0)
    assert outbox.status(row) == "pending"
    assert (await run(outbox, channel, T0 + timedelta(minutes=1))).sent == 0  # still leased
    assert (await run(outbox, channel, T0 + timedelta(minutes=6))).sent == 1  # lease expired
    assert [events[0].alert_id for events in channel.sent] == ["m-77", "m-77"]


async def test_each_outcome_is_recorded_as_soon_as_its_receiver_answered() -> None:
    """Issue 13.5: outcomes were recorded when the whole pass finished, so a slow
    channel left the fast one's accepted alerts unrecorded (and re-claimable)."""
    log: list[str] = []

    class Logged(MemoryOutbox):
        def mark_sent(self, ids: Sequence[int], now: datetime, detail: str) -> None:
            log.append(f"mark {list(ids)}")
            super().mark_sent(ids, now, detail)

    class Slow(Recorder):
        async def send(self, events: Sequence[AlertEvent]) -> Delivery:
            await asyncio.sleep(0.3 if self.name == "slow" else 0)
            log.append(f"send {self.name}")
            return await super().send(events)

    outbox = Logged()
    chans = {
        n: Slow(parse_channel({"name": n, "kind": "apprise", "urls": ["json://x"]}))
        for n in ("fast", "slow")
    }
    outbox.add(match_event("a", channel="fast"))
    outbox.add(match_event("b", channel="slow"))
    report = await deliver_due(
        outbox,
        chans,
        {n: c.config for n, c in chans.items()},
        now=T0,
        worker="w",
        rng=random.Random(1),
    )
    assert report.sent == 2
    assert log == ["send fast", "mark [1]", "send slow", "mark [2]"]


class SlowRecorder(Recorder):
    """Answers after `delay` seconds of real time."""

    def __init__(self, config: ChannelConfig, delay: float, *failures: Exception) -> None:
        super().__init__(config, *failures)
        self.delay = delay

    async def send(self, events: Sequence[AlertEvent]) -> Delivery:
        await asyncio.sleep(self.delay)
        return await super().send(events)


async def test_a_slow_pass_keeps_its_claim_so_no_other_worker_sends_it_again() -> None:
    """The lease is renewed while claimed alerts wait for a slow receiver (13.5)."""
    outbox = MemoryOutbox()
    slow = SlowRecorder(config(), 0.15)
    for n in range(4):
        outbox.add(copy(f"m-{n}", n, f"feed{n}", 5, topic=f"t{n}"))
    start = datetime.now(UTC)

    def clock() -> datetime:
        return start + (datetime.now(UTC) - start)

    pass_a = asyncio.create_task(
        deliver_due(
            outbox,
            {"desk": slow},
            {"desk": slow.config},
            now=start,
            worker="a",
            rng=random.Random(1),
            lease=timedelta(seconds=0.2),
            clock=clock,
        )
    )
    other = Recorder(config())
    stolen = 0
    while not pass_a.done():  # another worker tries to claim all along
        await asyncio.sleep(0.05)
        report = await deliver_due(
            outbox,
            {"desk": other},
            {"desk": other.config},
            now=clock(),
            worker="b",
            rng=random.Random(2),
        )
        stolen += report.sent
    assert (await pass_a).sent == 4
    assert stolen == 0 and other.sent == []
    assert [e[0].alert_id for e in slow.sent] == ["m-0", "m-1", "m-2", "m-3"]


async def test_a_lost_claim_is_not_sent() -> None:
    """A worker that stalled past its lease (another took the items) skips them."""

    class Stolen(MemoryOutbox):
        def renew(self, ids: Sequence[int], worker: str, until: datetime) -> list[int]:
            return []

    outbox, slow = Stolen(), SlowRecorder(config(), 0.1)
    for n in range(3):
        outbox.add(copy(f"m-{n}", n, f"feed{n}", 5, topic=f"t{n}"))
    report = await deliver_due(
        outbox,
        {"desk": slow},
        {"desk": slow.config},
        now=T0,
        worker="a",
        rng=random.Random(1),
        lease=timedelta(seconds=0.15),
    )
    assert 1 <= report.sent < 3 and len(slow.sent) == report.sent


async def test_a_failing_channel_costs_one_attempt_per_pass_and_releases_the_rest() -> None:
    """A hanging receiver answered every queued alert with a timeout, one after the
    other, for as long as the queue was (13.6): the lane stops at the first."""
    outbox = MemoryOutbox()
    channel = Recorder(config(), DeliveryError("webhook timeout error: read timed out"))
    rows = [outbox.add(copy(f"m-{n}", n, f"feed{n}", 5, topic=f"t{n}")) for n in range(5)]
    report = await run(outbox, channel, T0)
    assert (report.retried, report.sent, len(channel.sent)) == (1, 0, 1)
    assert outbox.rows[rows[0]].item.attempts == 1
    assert all(
        outbox.rows[r].worker is None and outbox.rows[r].item.attempts == 0 for r in rows[1:]
    )
    assert (await run(outbox, channel, T0)).sent == 4  # released: due again at once


async def test_a_permanent_failure_does_not_stop_the_lane() -> None:
    outbox = MemoryOutbox()
    channel = Recorder(config(), DeliveryError("HTTP 400", permanent=True))
    for n in range(3):
        outbox.add(copy(f"m-{n}", n, f"feed{n}", 5, topic=f"t{n}"))
    report = await run(outbox, channel, T0)
    assert (report.dead, report.sent) == (1, 2)


async def test_transient_failures_until_the_retry_window_ends() -> None:
    failures = [DeliveryError("HTTP 503")] * 100
    outbox, channel = MemoryOutbox(), Recorder(config(retry_window="2h"), *failures)
    row = outbox.add(match_event())
    now, passes = T0, 0
    while outbox.status(row) == "pending":
        await run(outbox, channel, now, seed=passes)
        now, passes = outbox.rows[row].item.not_before, passes + 1
        assert passes < 50
    assert outbox.status(row) == "dead"
    assert "gave up after" in (outbox.rows[row].last_error or "")
    attempts_at = [t for t in outbox.rows[row].history]
    assert 5 <= len(attempts_at) <= 15  # backoff, not a retry every tick
    assert {e[0].alert_id for e in channel.sent} == {"match-1"}


async def test_last_retry_is_scheduled_no_later_than_the_window_end() -> None:
    held = config(retry_window="10m", group_mode="hold")  # held 2m: the window starts then
    outbox, channel = MemoryOutbox(), Recorder(held, DeliveryError("503"))
    row = outbox.add(match_event(), hold=timedelta(0))
    outbox.rows[row].item = OutboxItem(row, outbox.rows[row].item.event, 12, T0, T0)
    await run(outbox, channel, T0 + timedelta(minutes=9))
    assert outbox.rows[row].item.not_before == T0 + timedelta(minutes=12)  # created + hold + 10m


async def test_retry_after_beyond_the_window_dead_letters_now() -> None:
    failure = DeliveryError("HTTP 429", retry_after=3 * 86400)
    outbox, channel = MemoryOutbox(), Recorder(config(), failure)
    row = outbox.add(match_event())
    report = await run(outbox, channel, T0)
    assert report.dead == 1 and "past the retry window" in (outbox.rows[row].last_error or "")


async def test_retry_after_is_honoured() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config(), DeliveryError("429", retry_after=900))
    row = outbox.add(match_event())
    await run(outbox, channel, T0)
    assert outbox.rows[row].item.not_before >= T0 + timedelta(seconds=900)


async def test_a_crashing_channel_is_retried_not_fatal() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config(), RuntimeError("template bug"))
    row = outbox.add(match_event())
    report = await run(outbox, channel, T0)
    assert report.retried == 1 and "internal error: RuntimeError" in report.errors[0]
    assert outbox.status(row) == "pending"


async def test_items_for_a_removed_channel_are_dead_lettered() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config())
    row = outbox.add(match_event(channel="gone"))
    report = await run(outbox, channel, T0)
    assert report.dead == 1 and outbox.status(row) == "dead" and channel.sent == []


async def test_a_retried_group_keeps_its_first_alert_id() -> None:
    outbox, channel = MemoryOutbox(), Recorder(config(), DeliveryError("503"))
    outbox.add(copy("m-1", 1, "reuters", 5))
    outbox.add(copy("m-2", 2, "afp", 5, at=T0 + timedelta(seconds=10)))
    await run(outbox, channel, T0 + timedelta(minutes=1))
    retry_at = max(r.item.not_before for r in outbox.rows.values())
    await run(outbox, channel, retry_at)
    assert [[e.alert_id for e in batch] for batch in channel.sent] == [["m-1"], ["m-1"]]
    assert all(r.status == "sent" for r in outbox.rows.values())


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


async def test_wire_copies_make_one_email_listing_both_sources(smtp: SmtpServer) -> None:
    email = parse_channel(
        {
            "name": "desk",
            "kind": "email",
            "to": ["desk@example.org"],
            "from": "a@example.org",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
        }
    )
    assert isinstance(email, EmailChannelConfig)
    outbox = MemoryOutbox()
    outbox.add(copy("m-1", 1, "reuters", 99), hold=email.group_window)
    outbox.add(copy("m-2", 2, "afp", 99, at=T0 + timedelta(seconds=30)), hold=email.group_window)
    report = await deliver_due(
        outbox,
        {"desk": EmailChannel(email)},
        {"desk": email},
        now=T0 + timedelta(minutes=3),
        worker="w",
        rng=random.Random(1),
    )
    assert report.sent == 2
    [received] = smtp.messages
    text = received.message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "- reuters: Chip curbs (reuters) <https://news.example.org/reuters/1>" in text
    assert "- afp: Chip curbs (afp) <https://news.example.org/afp/2>" in text
