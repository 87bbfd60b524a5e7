"""Per-topic thresholds from the background of stored articles.

A topic's description is scored against sentences drawn from stored articles
(most of which are about something else).  Where that background sits depends
on the topic: a broad description ("elections") is near more everyday sentences
than a narrow one ("US export controls on AI chips"), so one global number
would make broad topics noisy and narrow ones deaf.  Each topic gets:

- a semantic threshold high in its own background distribution (a sentence
  with no complete expanded query must stand out from everyday text), and
- a lower expanded threshold, which only has to reject the expanded words
  used in another sense (French "frites" for "chips").

The sample is drawn with a seeded generator, so the same background and seed
give the same thresholds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aggregator.topics.crosslingual.encoder import Encoder, Vectors

#: Background sentences scored per calibration.
SAMPLE = 2000
#: Quantile of the background a semantic match must exceed, plus a margin.
SEMANTIC_QUANTILE = 0.998
SEMANTIC_MARGIN = 0.03
#: Bounds of the semantic threshold whatever the background says.
SEMANTIC_RANGE = (0.45, 0.75)
#: Quantile of the background an expanded match must exceed, and its bounds.
EXPANDED_QUANTILE = 0.98
EXPANDED_RANGE = (0.25, 0.45)
#: Without a background (a new database): these thresholds.
DEFAULT_SEMANTIC = 0.55
DEFAULT_EXPANDED = 0.25


@dataclass(frozen=True)
class Thresholds:
    semantic: float
    expanded: float
    calibrated: bool
    sample: int


def sample_sentences(texts: Sequence[str], seed: int, size: int = SAMPLE) -> list[str]:
    """A seeded sample of distinct background sentences (order-independent of the input)."""
    from aggregator.topics.crosslingual.match import sentences

    pool = sorted({s.text for t in texts for s in sentences("", "", t) if len(s.text) >= 20})
    if len(pool) <= size:
        return pool
    return random.Random(seed).sample(pool, size)


def thresholds_for(
    topic_vectors: Vectors, background: Vectors, fixed: float | None = None
) -> Thresholds:
    """Thresholds of one topic against encoded background sentences."""
    if len(background) < 50:
        semantic, expanded, calibrated = DEFAULT_SEMANTIC, DEFAULT_EXPANDED, False
    else:
        scores = (background @ topic_vectors.T).max(axis=1)
        semantic = float(np.quantile(scores, SEMANTIC_QUANTILE)) + SEMANTIC_MARGIN
        semantic = min(max(semantic, SEMANTIC_RANGE[0]), SEMANTIC_RANGE[1])
        expanded = float(np.quantile(scores, EXPANDED_QUANTILE))
        expanded = min(max(expanded, EXPANDED_RANGE[0]), EXPANDED_RANGE[1])
        calibrated = True
    if fixed is not None:
        semantic, expanded = fixed, min(expanded, fixed)
    return Thresholds(round(semantic, 4), round(expanded, 4), calibrated, len(background))


def encode_background(encoder: Encoder, texts: Sequence[str], seed: int) -> Vectors:
    chosen = sample_sentences(texts, seed)
    if not chosen:
        return np.zeros((0, 512), dtype=np.float32)
    return encoder.encode(chosen)
