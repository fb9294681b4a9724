"""Text embeddings for semantic similarity and embedding drift, behind one small protocol.

Nothing is downloaded at run time. Two backends ship:

- ``static-model``: :class:`StaticModelEmbedder`, a 64-dimension static (Model2Vec-style)
  embedding model whose weights are inside the ``tokenlearn-static-model`` wheel
  (``pip install 'keel[llm]'``). It captures meaning: "refund my order" is closer to "give
  me my money back" than to "the cat sat on the mat". The wheel states no license, so it is an
  optional extra, not a core dependency.
- ``hashing``: :class:`HashingEmbedder`, always available: word and character n-grams hashed
  into a fixed number of signed buckets (a fixed random projection of the n-gram counts),
  L2-normalized. It is deterministic and fast but **lexical, not semantic**: texts that share
  words and spellings are close; paraphrases with different words are not.

:func:`default_embedder` returns the static model when it is installed and the hashing one
otherwise; every score and drift result records the backend's ``name``, so numbers from
different backends are never compared silently. Plug in any other model (a sentence
transformer loaded from a local folder, an embeddings endpoint) with an object that has a
``name`` and an ``embed(texts)`` method returning an ``(n, d)`` array, passed to the scorer or
set process-wide with :func:`set_default_embedder`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from keel.errors import InvalidArgumentError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "StaticModelEmbedder",
    "cosine",
    "default_embedder",
    "get_embedder",
    "set_default_embedder",
]


@runtime_checkable
class Embedder(Protocol):
    """What an embedding backend provides."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per text: an ``(n, d)`` float array."""
        ...


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Lexical embeddings: hashed word and character n-grams, L2-normalized.

    Deterministic across processes and platforms (BLAKE2b hashes, no random state). Similar
    spelling and shared words give similar vectors; it knows nothing of synonyms.

    Args:
        dim: Number of buckets (the vector's length).
        char_ngrams: Lengths of the character n-grams taken inside each word.
    """

    def __init__(self, *, dim: int = 256, char_ngrams: tuple[int, ...] = (3, 4)) -> None:
        if dim < 8:
            raise InvalidArgumentError(f"dim must be at least 8, got {dim!r}.")
        self.dim = dim
        self.char_ngrams = char_ngrams
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in _TOKEN.findall(text)]
        features = [f"w:{w}" for w in words]
        features += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        for word in words:
            padded = f"<{word}>"
            for n in self.char_ngrams:
                features += [f"c:{padded[i : i + n]}" for i in range(max(1, len(padded) - n + 1))]
        return features

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the ``(n, dim)`` L2-normalized embeddings of ``texts``."""
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            for feature in self._features(str(text)):
                h = int.from_bytes(
                    hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little"
                )
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: np.ndarray = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return result


class StaticModelEmbedder:
    """Semantic embeddings from the static model shipped inside ``tokenlearn-static-model``.

    Raises:
        MissingDependencyError: The package is not installed.
    """

    name = "static-model-64"

    def __init__(self) -> None:
        try:
            from static_model import get_embeddings
        except ImportError as exc:
            raise MissingDependencyError(
                "The static embedding model is not installed. Install it with "
                "pip install 'keel[llm]', or use keel.llm.HashingEmbedder()."
            ) from exc
        self._get = get_embeddings

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the ``(n, 64)`` L2-normalized embeddings of ``texts``."""
        import numpy as np

        if not texts:
            return np.zeros((0, 64))
        # The model embeds an empty string as NaN; an empty text has no meaning to embed.
        values = np.asarray(self._get([str(t) or " " for t in texts]), dtype=np.float64)
        values = np.nan_to_num(values)
        norms = np.linalg.norm(values, axis=1, keepdims=True)
        result: np.ndarray = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
        return result


_default: Embedder | None = None


def default_embedder() -> Embedder:
    """Return the process-wide embedder: the one set, else the static model, else hashing."""
    global _default
    if _default is None:
        try:
            _default = StaticModelEmbedder()
        except MissingDependencyError:
            _default = HashingEmbedder()
    return _default


def set_default_embedder(embedder: Embedder | str | None) -> None:
    """Set the embedder used when none is passed (``None``: back to the automatic choice)."""
    global _default
    _default = None if embedder is None else get_embedder(embedder)


def get_embedder(embedder: Embedder | str | None = None) -> Embedder:
    """Return an embedder: an object as is, a backend by name, or the default.

    Args:
        embedder: ``None``, ``"hashing"``, ``"static-model"``, or an :class:`Embedder`.

    Raises:
        InvalidArgumentError: An unknown name or an object without ``embed``.
    """
    if embedder is None:
        return default_embedder()
    if isinstance(embedder, str):
        if embedder == "hashing":
            return HashingEmbedder()
        if embedder == "static-model":
            return StaticModelEmbedder()
        raise InvalidArgumentError(
            f"Unknown embedder {embedder!r}; use 'hashing', 'static-model', or an object "
            "with a name and an embed(texts) method."
        )
    if not callable(getattr(embedder, "embed", None)):
        raise InvalidArgumentError(
            f"An embedder has an embed(texts) method returning an (n, d) array; got {embedder!r}."
        )
    return embedder


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(n, d)`` arrays (0 where a row is all zeros)."""
    import numpy as np

    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    denom = na * nb
    result: np.ndarray = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    return result
