"""Cross-lingual matching as the pipeline uses it: jobs for the worker processes.

The encoder (170 MB, ~3 ms a sentence) must not run on the event loop, so the
pipeline sends each batch of new articles to the extraction pool's workers as
one job.  A worker keeps one :class:`CrossLingual` per topic set (keyed by a
digest of the specs), with its sentence cache shared by every topic; the specs
travel with the job, so a reloaded feeds.yaml simply brings a new key.

Thresholds are calibrated once per topic set, also in a worker, on a seeded
sample of stored articles' titles and summaries, and then travel in the specs:
every worker applies the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, TypeVar

from aggregator.query.normalize import language_code
from aggregator.topics.crosslingual.match import CrossMatch, XTopicSpec

#: Seed of the calibration sample: the same stored articles give the same thresholds.
CALIBRATION_SEED = 18
#: Stored articles whose titles and summaries make the calibration background.
CALIBRATION_ARTICLES = 400


@dataclass(frozen=True)
class DocIn:
    """What a worker needs of one article."""

    title: str
    summary: str
    body: str
    language: str | None
    skip: tuple[str, ...] = ()  # topics already matched literally
    feeds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchJob:
    specs: tuple[XTopicSpec, ...]
    thresholds: tuple[tuple[str, float, float], ...]
    docs: tuple[DocIn, ...]


@dataclass(frozen=True)
class CalibrateJob:
    specs: tuple[XTopicSpec, ...]
    background: tuple[str, ...]
    seed: int


def specs_key(specs: Sequence[XTopicSpec]) -> str:
    raw = json.dumps([asdict(s) for s in specs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(raw.encode()).hexdigest()


_INSTANCES: dict[str, Any] = {}


def instance(specs: Sequence[XTopicSpec]) -> Any:
    """This process's CrossLingual for a topic set (built once, the encoder loaded once)."""
    from aggregator.topics.crosslingual import CrossLingual

    key = specs_key(specs)
    found = _INSTANCES.get(key)
    if found is None:
        found = CrossLingual.load(list(specs))
        if len(_INSTANCES) >= 4:  # an old topic set after reloads
            _INSTANCES.pop(next(iter(_INSTANCES)))
        _INSTANCES[key] = found
    return found


def run_match(job: MatchJob) -> list[list[CrossMatch]]:
    """Worker entry point: the cross-lingual matches of each document."""
    xl = instance(job.specs)
    xl.set_thresholds({name: (sem, exp) for name, sem, exp in job.thresholds})
    out: list[list[CrossMatch]] = []
    for d in job.docs:
        only = [s.name for s in job.specs if s.name not in d.skip and in_scope(s, d)]
        out.append(xl.index.match(d.title, d.summary, d.body, d.language, only=only))
    return out


def _folded(names: Sequence[str]) -> set[str]:
    return {n.strip().casefold() for n in names}


def in_scope(spec: XTopicSpec, doc: DocIn) -> bool:
    """The topic's feed and tag filters (its language scope is checked by the index)."""
    if spec.feeds and not _folded(spec.feeds) & _folded(doc.feeds):
        return False
    return not spec.tags or bool(_folded(spec.tags) & _folded(doc.tags))


def needs(spec: XTopicSpec, doc: DocIn) -> bool:
    """Whether cross-lingual matching of ``spec`` has anything to do for ``doc``."""
    if spec.name in doc.skip or not in_scope(spec, doc):
        return False
    language = language_code(doc.language) if doc.language else None
    if language == spec.source_language:
        return False
    scope = {c for c in (language_code(x) for x in spec.languages) if c}
    return not scope or language in scope


def cross_specs(topics: Sequence[Any]) -> list[XTopicSpec]:
    """XTopicSpecs of the topics (``topics.TopicSpec``) that have cross_lingual on."""
    return [
        XTopicSpec(
            t.name,
            t.query,
            tuple(t.descriptions) or ((t.description,) if t.description else ()),
            t.threshold,
            languages=tuple(t.languages),
            feeds=tuple(t.feeds),
            tags=tuple(t.tags),
        )
        for t in topics
        if getattr(t, "cross_lingual", False)
    ]


def run_calibrate(job: CalibrateJob) -> tuple[tuple[str, float, float], ...]:
    """Worker entry point: (topic, semantic, expanded) thresholds."""
    xl = instance(job.specs)
    xl.calibrate(list(job.background), seed=job.seed)
    return tuple((t.spec.name, t.semantic_threshold, t.expanded_threshold) for t in xl.topics)


def with_fixed(specs: Sequence[XTopicSpec], fixed: dict[str, float]) -> tuple[XTopicSpec, ...]:
    return tuple(replace(s, threshold=fixed.get(s.name, s.threshold)) for s in specs)


def explanation(m: CrossMatch) -> dict[str, Any]:
    """What is stored with a cross-lingual match (and shown by topics test / items show)."""
    return {
        "method": m.method,
        "score": m.score,
        "threshold": m.threshold,
        "sentences": [
            {
                "field": e.field,
                "text": e.text,
                "score": e.score,
                "terms": list(e.terms),
                "start": e.start,
                "end": e.end,
            }
            for e in m.sentences
        ],
        "expanded_terms": list(m.expanded),
    }


def snippet(m: CrossMatch) -> dict[str, Any]:
    """The best sentence as a snippet, matched words highlighted (offsets in the sentence)."""
    best = m.sentences[0]
    return {
        "text": best.text,
        "highlights": [[a - best.start, b - best.start] for a, b in best.spans],
    }


T = TypeVar("T")
R = TypeVar("R")


class Pool(Protocol):
    """The extraction pool's generic job runner (aggregator.extract.extractor.ExtractPool)."""

    def call(
        self, fn: Callable[[T], R], arg: T, *, timeout: float | None = None
    ) -> Awaitable[R]: ...


#: A worker's first job loads the encoder (~3 s) and may compute, per language, its
#: vocabulary vectors and its nearest-English-words table (~10 s + ~10 s of one core,
#: once per machine: both are cached on disk); a first batch in 14 languages on a
#: busy machine needs the margin.
JOB_TIMEOUT = 600.0


class CrossLingualMatcher:
    """The Aggregator's handle on cross-lingual matching for its configured topics."""

    def __init__(
        self,
        specs: Sequence[XTopicSpec],
        background: Callable[[], Sequence[str]],
        seed: int = CALIBRATION_SEED,
    ) -> None:
        self.specs = tuple(specs)
        self._background = background
        self.seed = seed
        self.thresholds: tuple[tuple[str, float, float], ...] | None = None

    def __len__(self) -> int:
        return len(self.specs)

    def _calibrate_job(self) -> CalibrateJob:
        return CalibrateJob(self.specs, tuple(self._background()), self.seed)

    def _todo(self, docs: Sequence[DocIn]) -> list[int]:
        """Documents some topic still has to look at: not already matched literally,
        in its feed/tag scope, and in another language than the query's (an English
        feed never costs an encoder load)."""
        return [i for i, d in enumerate(docs) if any(needs(s, d) for s in self.specs)]

    async def match(self, pool: Pool, docs: Sequence[DocIn]) -> list[list[CrossMatch]]:
        """Matches of each document, computed in the pool's worker processes."""
        out: list[list[CrossMatch]] = [[] for _ in docs]
        todo = self._todo(docs)
        if not todo:
            return out
        if self.thresholds is None:
            self.thresholds = await pool.call(
                run_calibrate, self._calibrate_job(), timeout=JOB_TIMEOUT
            )
        job = MatchJob(self.specs, self.thresholds, tuple(docs[i] for i in todo))
        for i, found in zip(
            todo, await pool.call(run_match, job, timeout=JOB_TIMEOUT), strict=True
        ):
            out[i] = found
        return out

    def match_here(self, docs: Sequence[DocIn]) -> list[list[CrossMatch]]:
        """The same in this process (command-line one-offs: topics test, demo)."""
        out: list[list[CrossMatch]] = [[] for _ in docs]
        todo = self._todo(docs)
        if not todo:
            return out
        if self.thresholds is None:
            self.thresholds = run_calibrate(self._calibrate_job())
        job = MatchJob(self.specs, self.thresholds, tuple(docs[i] for i in todo))
        for i, found in zip(todo, run_match(job), strict=True):
            out[i] = found
        return out
