"""Cross-lingual topic matching measured on human-translated news (NTREX dev).

Topics are written in English only: a query and a one-sentence description.
Their positives are the English lines the query matches literally; every other
language's line N is the human translation of English line N, so the same
lines must match in every language.  False positives are counted among 150
unrelated lines (from documents where no topic matches) per language.

The documents are split in two, with a fixed seed: thresholds and expansion
settings were tuned on the "tune" documents; "held-out" documents were not
looked at while tuning, and are what the README reports first.

Needs ../shared/corpora/ntrex-dev (or --corpus DIR); exits 0 with a message when
it is absent, so CI without the corpora skips it.

    python scripts/eval_crosslingual.py [--split held-out|tune|all] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregator.topics import Document, TopicIndex, TopicSpec  # noqa: E402
from aggregator.topics.crosslingual import CrossLingual, XTopicSpec  # noqa: E402


def _default_corpus() -> Path:
    """../shared/corpora/ntrex-dev beside the checkout (or beside a parent, for worktrees)."""
    for base in ROOT.parents:
        candidate = base / "shared" / "corpora" / "ntrex-dev"
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "corpora" / "ntrex-dev"


DEFAULT_CORPUS = _default_corpus()

#: NTREX file code -> the language code the aggregator gives such an article.
LANGUAGES = {
    "eng": "en", "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "por": "pt", "nld": "nl",
    "pol": "pl", "rus": "ru", "tur": "tr", "arb": "ar", "zho-CN": "zh", "zho-TW": "zh",
    "jpn": "ja", "kor": "ko", "tha": "th",
    # outside the encoder's languages: term expansion only
    "ukr": "uk", "vie": "vi", "ces": "cs", "swe": "sv",
}  # fmt: skip

#: English-only topics: (name, query, description).
TOPICS = [
    ("kavanaugh", "Kavanaugh",
     "The Senate fight over Brett Kavanaugh's nomination to the Supreme Court"),
    ("north-korea", '"North Korea*" OR Pyongyang',
     "North Korea, its leader Kim Jong Un and its nuclear weapons"),
    ("violent-crime", "murder* OR stabb* OR shooting* OR shot",
     "A person was killed, shot or stabbed and police are investigating"),
    ("elections", "election* OR voter* OR midterm*",
     "Elections, voters and the campaigns before a vote"),
    ("football", "goal* OR striker* OR midfielder*",
     "A football match and the goals scored in it"),
    ("disasters", "hurricane* OR tsunami* OR earthquake* OR flood*",
     "Hurricanes, floods, earthquakes and tsunamis and the damage they cause"),
    ("brexit", "Brexit", "Britain leaving the European Union"),
    ("migration", "refugee* OR migrant*", "Refugees and migrants who flee their country"),
]  # fmt: skip

SEED = 18
UNRELATED = 150


def load(corpus: Path) -> tuple[list[str], dict[str, list[str]]]:
    docs = (corpus / "DOCUMENT_IDS.dev.tsv").read_text(encoding="utf-8").splitlines()
    lines = {"eng": (corpus / "newstest2019-src.eng.dev.txt").read_text("utf-8").splitlines()}
    for code in LANGUAGES:
        if code != "eng":
            path = corpus / f"newstest2019-ref.{code}.dev.txt"
            if path.exists():
                lines[code] = path.read_text(encoding="utf-8").splitlines()
    return docs, lines


def split_documents(docs: Sequence[str], seed: int = SEED) -> dict[str, str]:
    """Each document goes to "tune" or "held-out", half and half, with a fixed seed."""
    names = sorted(set(docs))
    random.Random(seed).shuffle(names)
    return {d: ("tune" if i % 2 == 0 else "held-out") for i, d in enumerate(names)}


def english_positives(english: Sequence[str]) -> dict[str, set[int]]:
    """Lines each topic's query matches literally in English: the ground truth."""
    out: dict[str, set[int]] = {}
    for name, query, _ in TOPICS:
        index = TopicIndex([TopicSpec(name, query, languages=("en",))])
        out[name] = {
            i for i, line in enumerate(english) if index.match(Document(title=line, language="en"))
        }
    return out


def unrelated_lines(
    docs: Sequence[str], positives: dict[str, set[int]], split: dict[str, str], part: str
) -> list[int]:
    """150 lines from documents no topic matches at all, drawn with the fixed seed."""
    touched = {docs[i] for ids in positives.values() for i in ids}
    pool = [
        i for i, d in enumerate(docs) if d not in touched and (part == "all" or split[d] == part)
    ]
    rng = random.Random(SEED)
    return sorted(rng.sample(pool, min(UNRELATED, len(pool))))


def background(
    lines: dict[str, list[str]], exclude: set[int], n: int = 600
) -> list[tuple[str, str]]:
    """Calibration background: (text, language) from lines not used for scoring."""
    rng = random.Random(SEED + 1)
    pool = [(code, i) for code in lines for i in range(len(lines[code])) if i not in exclude]
    return [(lines[c][i], LANGUAGES[c]) for c, i in rng.sample(pool, min(n, len(pool)))]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--split", choices=["held-out", "tune", "all"], default="held-out")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--languages", nargs="*", help="NTREX codes (default: all known)")
    args = ap.parse_args(argv)
    if not (args.corpus / "DOCUMENT_IDS.dev.tsv").exists():
        print(f"skipped: no corpus at {args.corpus} (needs ../shared/corpora/ntrex-dev)")
        return 0
    docs, lines = load(args.corpus)
    codes = [c for c in (args.languages or LANGUAGES) if c in lines]
    split = split_documents(docs)
    truth = english_positives(lines["eng"])
    scored = {
        n: {i for i in ids if args.split == "all" or split[docs[i]] == args.split}
        for n, ids in truth.items()
    }
    unrelated = unrelated_lines(docs, truth, split, args.split)
    # calibrate on lines of the OTHER split (or, for "all", on nothing scored)
    used = set(unrelated) | {i for ids in truth.values() for i in ids}
    other = {i for i, d in enumerate(docs) if args.split != "all" and split[d] == args.split}
    bg = background({c: lines[c] for c in codes}, used | other)

    t0 = time.perf_counter()
    xl = CrossLingual.load(
        [XTopicSpec(name, q, (desc,)) for name, q, desc in TOPICS],
        languages=sorted({LANGUAGES[c] for c in codes} - {"en"}),
    )
    xl.calibrate([t for t, _ in bg], seed=SEED)
    setup = time.perf_counter() - t0

    literal = TopicIndex([TopicSpec(name, q) for name, q, _ in TOPICS])
    rows = []
    t1 = time.perf_counter()
    for code in codes:
        lang = LANGUAGES[code]
        text = lines[code]
        matched: dict[int, set[str]] = {}
        for i in sorted({*unrelated, *(j for ids in scored.values() for j in ids)}):
            doc = Document(title=text[i], language=lang)
            names = {m.topic for m in literal.match(doc)}
            names |= {m.topic for m in xl.match(doc)}
            matched[i] = names
        found = sum(1 for n, ids in scored.items() for i in ids if n in matched[i])
        total = sum(len(ids) for ids in scored.values())
        fp = sum(1 for i in unrelated if matched[i])
        per_topic = {
            n: round(sum(n in matched[i] for i in ids) / len(ids), 2) if ids else None
            for n, ids in scored.items()
        }
        rows.append(
            {
                "language": code,
                "code": lang,
                "covered": xl.covers(lang),
                "recall": round(found / total, 3),
                "positives": total,
                "false_positives": fp,
                "unrelated": len(unrelated),
                "topics": per_topic,
            }
        )
    elapsed = time.perf_counter() - t1
    if args.json:
        print(
            json.dumps({"split": args.split, "rows": rows, "thresholds": xl.thresholds()}, indent=1)
        )
        return 0
    print(
        f"split {args.split}: {sum(len(v) for v in scored.values())} positive lines in "
        f"{len({docs[i] for v in scored.values() for i in v})} documents, {len(unrelated)} unrelated lines; "
        f"setup {setup:.1f} s, matching {elapsed:.1f} s"
    )
    names = [n for n, _, _ in TOPICS]
    print(
        f"{'lang':8} {'how':9} {'recall':>6} {'FP/150':>6}  "
        + " ".join(f"{n[:8]:>8}" for n in names)
    )
    for r in rows:
        how = "literal" if r["code"] == "en" else ("encoder" if r["covered"] else "expansion")
        cells = " ".join(f"{'-' if r['topics'][n] is None else r['topics'][n]:>8}" for n in names)
        print(f"{r['language']:8} {how:9} {r['recall']:6.2f} {r['false_positives']:6d}  {cells}")
    print("thresholds:", json.dumps(xl.thresholds()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
