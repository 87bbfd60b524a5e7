"""Realistic feed-item material, read at run time from the shared corpora.

Nothing from ``../shared/corpora`` is ever copied into the repository: the
texts are read when a benchmark runs and only live in memory and in the
farm's temporary directory.  Without the corpora a synthetic fallback (built
from the package's own seed article) is used and the report says so.
"""

from __future__ import annotations

import glob
import gzip
import os
import random
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FEED_EXTS = {"xml", "rss", "atom", "rdf"}


def corpora_dir() -> Path | None:
    """``$AGGREGATOR_CORPORA`` or ``../shared/corpora`` beside the repository."""
    env = os.environ.get("AGGREGATOR_CORPORA")
    cands = [Path(env)] if env else []
    cands += [REPO.parent / "shared" / "corpora", Path("/work/shared/corpora")]
    for c in cands:
        if c.is_dir():
            return c
    return None


_TOKEN = re.compile(r"(<[^>]*>)")


def cut_html(text: str, length: int) -> str:
    """Cut ``text`` to about ``length`` characters without splitting a tag or a word."""
    if len(text) <= length:
        return text
    out: list[str] = []
    n = 0
    for tok in _TOKEN.split(text):
        if not tok:
            continue
        if tok.startswith("<"):
            if n + len(tok) > length:
                break
            out.append(tok)
            n += len(tok)
            continue
        room = length - n
        if len(tok) <= room:
            out.append(tok)
            n += len(tok)
            continue
        piece = tok[:room]
        sp = piece.rfind(" ")
        if sp > room // 2:
            piece = piece[:sp]
        out.append(piece)
        break
    return "".join(out)


@dataclass
class ItemMaterial:
    """Titles, descriptions and a length distribution for generated items."""

    source: str
    titles: list[str]
    descriptions: list[str]
    lengths: list[int]  # description lengths (characters), scaled to the target mean
    pages: list[Path] = field(default_factory=list)  # article pages (.html.gz) to serve
    corpus_median_len: float = 0.0
    corpus_mean_len: float = 0.0

    def description(self, rng: random.Random) -> str:
        target = rng.choice(self.lengths)
        parts: list[str] = []
        total = 0
        while total < target:
            d = rng.choice(self.descriptions)
            parts.append(d)
            total += len(d) + 1
        return cut_html(" ".join(parts), target)

    def title(self, rng: random.Random) -> str:
        return rng.choice(self.titles)


def _scaled_lengths(raw: list[int], target_mean: int) -> list[int]:
    """Keep the corpus' shape, move its mean to ``target_mean``, clip the long tail."""
    lo, hi = max(40, target_mean // 8), target_mean * 4
    factor = target_mean / statistics.mean(raw)
    out = raw
    for _ in range(6):
        out = [min(hi, max(lo, int(x * factor))) for x in raw]
        m = statistics.mean(out)
        factor *= target_mean / m
    return out


def load_material(target_len: int = 600, *, max_pages: int | None = None) -> ItemMaterial:
    root = corpora_dir()
    titles: list[str] = []
    descs: list[str] = []
    pages: list[Path] = []
    source = "synthetic (../shared/corpora not found)"
    if root is not None:
        import feedparser

        files = [
            f
            for f in glob.glob(str(root / "feeds" / "**" / "*"), recursive=True)
            if f.rsplit(".", 1)[-1].lower() in FEED_EXTS and os.path.isfile(f)
        ]
        for f in sorted(files):
            try:
                d = feedparser.parse(f)
            except Exception:  # noqa: BLE001, S112 - a broken corpus file is just skipped
                continue
            for e in d.entries:
                s = (e.get("summary") or "").strip()
                t = (e.get("title") or "").strip()
                if len(s) >= 40:
                    descs.append(s)
                if 8 <= len(t) <= 200:
                    titles.append(t)
        pages = sorted((root / "extraction" / "zyte" / "html").glob("*.html.gz"))
        if max_pages:
            pages = pages[:max_pages]
        if descs:
            source = f"{len(descs)} item descriptions from {len(files)} feeds in {root}/feeds"
    if not descs:
        text = (REPO / "aggregator" / "seed" / "article.txt").read_text(encoding="utf-8")
        paras = [p.strip() for p in text.split("\n") if len(p.strip()) > 40]
        descs = [f"<p>{p}</p>" for p in paras]
        titles = [p[:80] for p in paras]
        raw = [int(random.Random(i).lognormvariate(6.2, 0.7)) for i in range(500)]
    else:
        raw = [len(d) for d in descs]
    if not titles:
        titles = ["Untitled item"]
    return ItemMaterial(
        source=source,
        titles=titles,
        descriptions=descs,
        lengths=_scaled_lengths(raw, target_len),
        pages=pages,
        corpus_median_len=float(statistics.median(raw)),
        corpus_mean_len=float(statistics.mean(raw)),
    )


def synthetic_page(i: int, material: ItemMaterial) -> bytes:
    rng = random.Random(i)
    paras = "\n".join(f"<p>{material.description(rng)}</p>" for _ in range(12))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{material.title(rng)}</title>"
        f"</head><body><article><h1>{material.title(rng)}</h1>{paras}</article></body></html>"
    ).encode()


def page_bytes(p: Path) -> bytes:
    return gzip.decompress(p.read_bytes())
