"""Language identification measured against what feeds declare.

Every feed under ../shared/corpora/feeds that declares a language (RSS
``<language>``, Atom ``xml:lang``) gives labelled items: title + text. Each
detector's answer is compared with the declared language (a proxy: a few feeds
declare wrongly or mix languages, which costs every detector alike).

    .venv/bin/python scripts/eval_language.py

Skips (exit 0) when the corpus is absent. py3langid is compared when installed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.exceptions import ParseError
from aggregator.extract.language import detect_language
from aggregator.parse.feeds import parse_feed, text_of

CORPUS = REPO.parent / "shared" / "corpora" / "feeds"


def labelled() -> list[tuple[str, str]]:
    """(declared language, item text) for every item of a feed declaring one."""
    out: list[tuple[str, str]] = []
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        try:
            feed = parse_feed(path.read_bytes(), url="https://example.org/feed")
        except (ParseError, ValueError):
            continue
        lang = (feed.language or "").lower().replace("_", "-").split("-")[0]
        if len(lang) != 2:
            continue
        for e in feed.entries:
            text = f"{e.title or ''}\n{text_of(e.content or e.summary)}"
            out.append((lang, text))
    return out


def py3langid_detector() -> Callable[[str], str | None] | None:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        return None
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def detect(text: str) -> str | None:
        sample = text[:400]
        if sum(map(str.isalpha, sample)) < 20:
            return None
        lang, conf = ident.classify(sample)
        return str(lang) if conf >= 0.5 else None

    return detect


def score(name: str, detect: Callable[[str], str | None], data: list[tuple[str, str]]) -> None:
    detect(data[0][1])  # load the model off the clock
    start = time.perf_counter()
    answers = [detect(t) for _, t in data]
    took = time.perf_counter() - start
    right = sum(a == lang for (lang, _), a in zip(data, answers))
    wrong = sum(a is not None and a != lang for (lang, _), a in zip(data, answers))
    none = sum(a is None for a in answers)
    print(
        f"{name:10s} right {right / len(data):6.1%}  wrong {wrong / len(data):6.1%}  "
        f"no answer {none / len(data):6.1%}  {took / len(data) * 1e6:6.0f} µs/item"
    )


def main() -> int:
    if not CORPUS.is_dir():
        print(f"skipped: {CORPUS} is absent")
        return 0
    data = labelled()
    langs = sorted({lang for lang, _ in data})
    print(f"{len(data)} items from feeds declaring {len(langs)} languages: {', '.join(langs)}")
    score("fasttext", detect_language, data)
    other = py3langid_detector()
    if other is not None:
        score("py3langid", other, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
