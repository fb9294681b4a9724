"""Text embeddings for semantic similarity and embedding drift, behind one small protocol.

Nothing is downloaded at run time. Three backends ship:

- ``static-model``: :class:`StaticModelEmbedder`, a 64-dimension static (Model2Vec-style)
  embedding model whose weights are inside the ``tokenlearn-static-model`` wheel
  (``pip install 'keel[llm]'``). It captures meaning: "refund my order" is closer to "give
  me my money back" than to "the cat sat on the mat". **Its wheel states no license and no
  author: its provenance is unknown.** It is therefore only an optional extra, never a core
  dependency, never imported unless installed, and meant for trying Keel out; for production,
  plug in an embedder whose license you know (:class:`LocalModelEmbedder`).
- ``local``: :class:`LocalModelEmbedder`, a Model2Vec or sentence-transformers model that you
  stored in a local folder, loaded from disk only (never from a hub), when that library is
  installed.
- ``hashing``: :class:`HashingEmbedder`, always available: word and character n-grams hashed
  into a fixed number of signed buckets (a fixed random projection of the n-gram counts),
  L2-normalized. It is deterministic and fast but **lexical, not semantic**: texts that share
  words and spellings are close; paraphrases with different words are not.

:func:`default_embedder` returns the static model when it is installed and the hashing one
otherwise; every score and drift result records the backend's ``name``, so numbers from
different backends are never compared silently. Plug in any other model (a sentence
transformer or Model2Vec model in a local folder through :class:`LocalModelEmbedder`, an
embeddings endpoint) with an object that has a ``name`` and an ``embed(texts)`` method
returning an ``(n, d)`` array, passed to the scorer or set process-wide with
:func:`set_default_embedder` (do so in production: the static model's provenance is unknown).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from keel.errors import InvalidArgumentError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "LocalModelEmbedder",
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

    That wheel states no license and no author (unknown provenance): use it to try Keel out,
    and a :class:`LocalModelEmbedder` over a model whose license you know in production.

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


_BACKENDS = ("auto", "model2vec", "sentence-transformers")


class LocalModelEmbedder:
    """Embeddings from a Model2Vec or sentence-transformers model stored in a local folder.

    The folder is read from disk and nothing is downloaded: a path that does not exist is an
    error, never a model name looked up on a hub. The library is imported only here, so it
    stays optional (``pip install model2vec`` or ``pip install sentence-transformers``).

    Args:
        path: The model's folder (as written by ``StaticModel.save_pretrained`` or
            ``SentenceTransformer.save``).
        backend: ``"model2vec"``, ``"sentence-transformers"``, or ``"auto"`` (a folder with
            ``config_sentence_transformers.json`` is a sentence transformer; one with
            ``tokenizer.json`` and ``model.safetensors`` a Model2Vec model).
        name: The name recorded with scores (``local-<backend>:<folder name>`` by default).

    Raises:
        InvalidArgumentError: The folder does not exist or holds no model Keel can read.
        MissingDependencyError: The library the model needs is not installed.

    Examples:
        >>> emb = keel.llm.LocalModelEmbedder("/models/potion-base-8M")  # doctest: +SKIP
        >>> keel.scorers.semantic_similarity(embedder=emb)  # doctest: +SKIP
    """

    def __init__(
        self, path: str | os.PathLike[str], *, backend: str = "auto", name: str = ""
    ) -> None:
        from pathlib import Path

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise InvalidArgumentError(
                f"LocalModelEmbedder reads a model folder on this machine, and {str(path)!r} "
                "is not a folder. Keel never downloads models: save the model to a folder "
                "first (StaticModel.save_pretrained or SentenceTransformer.save) and pass its "
                "path."
            )
        if backend not in _BACKENDS:
            raise InvalidArgumentError(
                f"Unknown backend {backend!r}; use one of {', '.join(map(repr, _BACKENDS))}."
            )
        if backend == "auto":
            if (folder / "config_sentence_transformers.json").exists():
                backend = "sentence-transformers"
            elif (folder / "tokenizer.json").exists() and (folder / "model.safetensors").exists():
                backend = "model2vec"
            else:
                found = sorted(p.name for p in folder.iterdir())[:10]
                raise InvalidArgumentError(
                    f"{str(folder)!r} holds neither a sentence-transformers model "
                    "(config_sentence_transformers.json) nor a Model2Vec model (tokenizer.json "
                    f"and model.safetensors); it has {found!r}. Pass backend= if you know it."
                )
        module = "model2vec" if backend == "model2vec" else "sentence_transformers"
        try:
            library = importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependencyError(
                f"The model in {str(folder)!r} needs the {backend} library, which is not "
                f"installed. Install it with pip install {backend}."
            ) from exc
        self.path = str(folder)
        self.backend = backend
        self.name = name or f"local-{backend}:{folder.name}"
        if backend == "model2vec":
            self._model: Any = library.StaticModel.from_pretrained(folder)
        else:
            self._model = library.SentenceTransformer(
                str(folder), device="cpu", local_files_only=True
            )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return the ``(n, d)`` L2-normalized embeddings of ``texts``."""
        import numpy as np

        values = np.asarray(self._model.encode([str(t) for t in texts]), dtype=np.float64)
        if values.ndim != 2:
            values = values.reshape(len(texts), -1)
        values = np.nan_to_num(values)
        norms = np.linalg.norm(values, axis=1, keepdims=True)
        result: np.ndarray = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
        return result

    def __repr__(self) -> str:
        return f"LocalModelEmbedder({self.path!r}, backend={self.backend!r})"


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
