"""Embedding backends: the optional static model stays optional; local models load offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError


def _python(code: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout.strip()


def test_the_unlicensed_static_model_is_never_imported_unless_used() -> None:
    code = (
        "import sys, keel, keel.llm, keel.scorers\n"
        "print('static_model' in sys.modules)\n"
        "sys.modules['static_model'] = None  # as if not installed\n"
        "from keel.llm import default_embedder\n"
        "print(default_embedder().name)\n"
    )
    assert _python(code).split() == ["False", "hashing-256"]


def _tiny_model2vec(folder: Path) -> Any:
    """A Model2Vec model made here (no download): a word-level vocabulary and fixed vectors."""
    np = pytest.importorskip("numpy")
    model2vec = pytest.importorskip("model2vec")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "[PAD]": 1, "refund": 2, "money": 3, "back": 4, "cat": 5, "mat": 6}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = tokenizers.normalizers.Lowercase()
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    vectors = np.zeros((7, 3), dtype=np.float32)
    vectors[2:5, 0] = 1.0  # refund, money, back: one direction
    vectors[5:7, 1] = 1.0  # cat, mat: another
    model2vec.StaticModel(vectors, tokenizer).save_pretrained(str(folder))
    return folder


def test_a_local_model2vec_folder_embeds_offline(tmp_path: Path) -> None:
    folder = _tiny_model2vec(tmp_path / "tiny-m2v")
    emb = keel.llm.LocalModelEmbedder(folder)
    assert emb.backend == "model2vec"
    assert emb.name == "local-model2vec:tiny-m2v"
    vectors = emb.embed(["Refund money", "cat mat", "money back"])
    assert vectors.shape == (3, 3)
    assert (abs((vectors**2).sum(axis=1) - 1) < 1e-9).all()
    s = keel.scorers.semantic_similarity(embedder=emb)
    ctx = keel.scorers.ScoreContext
    close, far = s.score_batch(
        [
            ctx(input="q", output="money back", reference="refund"),
            ctx(input="q", output="cat", reference="refund"),
        ]
    )
    assert close == pytest.approx(1.0)
    assert far == pytest.approx(0.0)
    assert s.spec()["embedder"] == "local-model2vec:tiny-m2v"


def test_a_local_model_is_never_looked_up_on_a_hub(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'minishlab/potion-base-8M' is not a folder"):
        keel.llm.LocalModelEmbedder("minishlab/potion-base-8M")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"neither a sentence-transformers model"):
        keel.llm.LocalModelEmbedder(tmp_path / "empty")
    with pytest.raises(InvalidArgumentError, match=r"Unknown backend 'onnx'"):
        keel.llm.LocalModelEmbedder(tmp_path / "empty", backend="onnx")
