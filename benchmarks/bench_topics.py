"""Topic matching throughput for 10, 100 and 1,000 topics.

Run with ``python -m benchmarks.bench_topics``.  Articles are the hand-annotated
bodies of ``extraction/zyte/ground-truth.json`` from the shared corpora when
present (read at run time, never copied), else generated text.  Topics are
generated from a vocabulary taken from those articles (mid-frequency words and
real bigrams, so queries do hit) plus French and German terms, with phrases,
NEAR, wildcards, field scopes and NOT.

The bar: matching an article against 1,000 topics costs at most 3x what it
costs against 10 (the index must not scan topics one by one).
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.topics import AnalyzedDoc, Document, TopicIndex, TopicSpec, analyze, tokenize
from aggregator.topics.analyze import detect_language

TOPIC_COUNTS = (10, 100, 1000)
RUNS = 7
SEED = 20250203
BAR = 3.0

FOREIGN = [
    "contrôles à l'exportation", "semi-conducteurs", "puces", "droits de douane", "élections",
    "inflation", "banque centrale", "intelligence artificielle", "Exportkontrollen",
    "Halbleiter", "Zölle", "Wahlen", "Zentralbank", "Klimawandel", "Energiepreise",
    "sanctions", "grève", "réforme des retraites", "Bundesregierung", "Künstliche Intelligenz",
]  # fmt: skip


# ------------------------------------------------------------------ material


def _ground_truth_bodies() -> list[str] | None:
    """Article bodies of the Zyte extraction benchmark, or None without the corpora."""
    from benchmarks.corpus import corpora_dir

    root = corpora_dir()
    path = root / "extraction" / "zyte" / "ground-truth.json" if root else None
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return [str(v.get("articleBody") or "") for v in data.values() if v.get("articleBody")]


def _generated_bodies(rng: random.Random, n: int = 150) -> list[str]:
    """Fallback articles: sentences of common words with topical words mixed in."""
    common = [
        "the", "a", "of", "to", "in", "and", "that", "for", "on", "with", "as", "was", "said",
        "by", "it", "from", "at", "an", "be", "have", "has", "are", "this", "which", "new",
    ]  # fmt: skip
    topical = [f"{a}{b}" for a in ("tar", "chip", "vot", "ban", "oil", "war", "tax", "cli")
               for b in ("iff", "mark", "er", "king", "field", "time", "payer", "mate")]  # fmt: skip
    bodies = []
    for _ in range(n):
        words = [rng.choice(topical if rng.random() < 0.08 else common) for _ in range(600)]
        bodies.append(" ".join(words).capitalize() + ".")
    return bodies


def load_articles(rng: random.Random) -> tuple[list[Document], str]:
    """Documents with their language already set (detection is not what we measure)."""
    bodies = _ground_truth_bodies()
    source = "Zyte article-extraction ground truth (181 real articles)"
    if not bodies:
        bodies, source = _generated_bodies(rng), "generated text (shared corpora not found)"
    docs = []
    for body in bodies:
        title = body.split("\n", 1)[0][:120]
        lang = detect_language(Document(body=body))
        docs.append(Document(title=title, body=body, language=lang, feeds=("bench",)))
    return docs, source


# ------------------------------------------------------------------ vocabulary


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]
    phrases: list[str]


def build_vocabulary(docs: Sequence[Document]) -> Vocabulary:
    """Mid-frequency words (in 1-15% of articles) and bigrams seen in 2+ articles."""
    df: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for doc in docs:
        toks = tokenize(doc.body)
        for t in toks:
            surface.setdefault(t.norm, doc.body[t.start : t.end])
        df.update({t.norm for t in toks if t.norm.isalpha() and len(t.norm) >= 5})
        bigrams.update({f"{a.norm} {b.norm}" for a, b in itertools.pairwise(toks)
                        if len(a.norm) >= 4 and len(b.norm) >= 4})  # fmt: skip
    n = len(docs)
    words = sorted(surface[w] for w, c in df.items() if 0.01 * n <= c <= 0.15 * n)
    phrases = sorted(p for p, c in bigrams.items() if 2 <= c <= 0.1 * n)
    return Vocabulary(words or ["nothing"], phrases or ["nothing here"])


def _term(rng: random.Random, vocab: Vocabulary) -> str:
    """One query operand: a word, a wildcard, a phrase, a NEAR pair or a foreign term."""

    def word() -> str:
        return rng.choice(vocab.words)

    kind = rng.random()
    if kind < 0.35:
        return word()
    if kind < 0.50:
        w = word()
        return f"{w[: max(4, len(w) - 2)]}*"
    if kind < 0.65:
        return f'"{rng.choice(vocab.phrases)}"'
    if kind < 0.78:
        return f"{word()} NEAR/{rng.randint(1, 5)} {word()}"
    if kind < 0.82:
        w = word()
        return f"*{w[1:-1]}*" if len(w) >= 6 else w
    foreign = rng.choice(FOREIGN)
    return f'"{foreign}"' if " " in foreign else foreign


def make_topics(count: int, vocab: Vocabulary, rng: random.Random) -> list[TopicSpec]:
    """Realistic desk topics: (synonyms in several languages) AND (context), maybe NOT."""
    topics = []
    for i in range(count):
        subject = " OR ".join(_term(rng, vocab) for _ in range(rng.randint(2, 6)))
        context = " OR ".join(_term(rng, vocab) for _ in range(rng.randint(1, 4)))
        query = f"({subject}) AND ({context})"
        if rng.random() < 0.2:
            query += f" NOT {rng.choice(vocab.words)}"
        if rng.random() < 0.1:
            query = f"title:({_term(rng, vocab)}) OR ({query})"
        languages = rng.choice([(), (), ("en", "fr", "de"), ("en",)])
        topics.append(TopicSpec(name=f"topic-{i}", query=query, languages=languages))
    return topics


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Measure:
    topics: int
    seconds: list[float]  # one full pass over all articles per run
    articles: int
    build_seconds: float
    candidates: float  # topics evaluated per article
    matches: float  # topics matched per article

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self, seconds: float) -> float:
        return self.articles / seconds


def _time_pass(index: TopicIndex, docs: Sequence[Document | AnalyzedDoc]) -> float:
    start = time.perf_counter()
    for doc in docs:
        index.match(doc)
    return time.perf_counter() - start


def measure(
    indexes: Sequence[tuple[int, TopicIndex, float]], docs: Sequence[Document | AnalyzedDoc]
) -> list[Measure]:
    """Median-of-RUNS timing of matching every article once, per index.

    Runs are interleaved (10, 100, 1000, 10, 100, 1000, ...) after one warm-up
    pass each, so load from other processes hits every topic count alike and
    the ratios stay meaningful on a busy machine.
    """
    for _, index, _ in indexes:
        _time_pass(index, docs)  # warm-up: caches of normal forms and stems
    seconds: list[list[float]] = [[] for _ in indexes]
    for _ in range(RUNS):
        for k, (_, index, _) in enumerate(indexes):
            seconds[k].append(_time_pass(index, docs))
    return [
        Measure(count, secs, len(docs), build, *_selectivity(index, docs))
        for (count, index, build), secs in zip(indexes, seconds)
    ]


def _selectivity(index: TopicIndex, docs: Sequence[Document | AnalyzedDoc]) -> tuple[float, float]:
    """Topics evaluated and topics matched per article, on average."""
    evaluated = statistics.mean(len(index.candidates(d)) for d in docs)
    matched = statistics.mean(len(index.match(d)) for d in docs)
    return evaluated, matched


def _table(title: str, rows: list[Measure]) -> list[str]:
    base = rows[0].median
    lines = [
        f"**{title}**",
        "",
        (
            "| topics | articles/s (median) | min | max | ms/article | × cost vs 10 | "
            "topics evaluated/article (skipped) | matched/article | index build, ms |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        lines.append(
            f"| {m.topics:,} | {m.rate(m.median):,.0f} | {m.rate(max(m.seconds)):,.0f} | "
            f"{m.rate(min(m.seconds)):,.0f} | {1000 * m.median / m.articles:.2f} | "
            f"{m.median / base:.2f} | {m.candidates:.1f} ({1 - m.candidates / m.topics:.1%}) | "
            f"{m.matches:.1f} | "
            f"{1000 * m.build_seconds:.0f} |"
        )
    return lines + [""]


def run() -> str:
    """Measure and return a markdown report (the benchmark runner calls this)."""
    rng = random.Random(SEED)
    docs, source = load_articles(rng)
    vocab = build_vocabulary(docs)
    analyzed = [analyze(d) for d in docs]
    indexes: list[tuple[int, TopicIndex, float]] = []
    for count in TOPIC_COUNTS:
        topics = make_topics(count, vocab, random.Random(SEED + count))
        start = time.perf_counter()
        indexes.append((count, TopicIndex(topics), time.perf_counter() - start))
    full = measure(indexes, docs)
    match_only = measure(indexes, analyzed)
    ratio = full[-1].median / full[0].median
    verdict = "PASS" if ratio <= BAR else "FAIL"
    lines = [
        (
            f"Articles: {len(docs)} from {source}; vocabulary {len(vocab.words)} words, "
            f"{len(vocab.phrases)} bigrams; median of {RUNS} interleaved runs after a "
            "warm-up pass; min/max are the slowest/fastest run. "
            "Command: `python -m benchmarks.bench_topics`."
        ),
        "",
        *_table("Analyse + match (what the pipeline pays per article)", full),
        *_table("Match only (article analysed once beforehand)", match_only),
        (
            "Match-only cost follows the topics an article is about (evaluated and matched "
            "per article), not the topics configured: these generated topics are broad "
            f"(each matches {full[-1].matches / full[-1].topics:.1%} of articles), so the "
            f"{full[-1].topics:,}-topic run builds about {full[-1].matches:.0f} matches with "
            "snippets per article."
        ),
        "",
        (
            f"Bar: {TOPIC_COUNTS[-1]:,} topics cost at most {BAR:.0f}× {TOPIC_COUNTS[0]} "
            f"topics — measured {ratio:.2f}×: "
            f"**{verdict}** (match only: {match_only[-1].median / match_only[0].median:.2f}×)."
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
