"""Drop-in replacements for other libraries' LaBSE front ends.

``LaBSE2Vec`` has the interface of vectorhub's ``vectorhub.encoders.text.tfhub.LaBSE2Vec``
(``encode(text) -> list[float]``, ``bulk_encode(texts) -> list[list[float]]``,
``vector_length``), running on labse instead of TensorFlow Hub.
"""
from __future__ import annotations

import os
from typing import List, Sequence, Union

import numpy as np

from ._model import Model


class LaBSE2Vec:
    """vectorhub-style LaBSE encoder over :class:`labse.Model`.

    Args:
        model_path: a sentence-transformers model folder (e.g. ``sentence-transformers/LaBSE``
            downloaded locally). Where vectorhub took a TF Hub URL, this takes the folder.
        max_seq_length: max tokens per text, [CLS] and [SEP] included; None = the model's
            ``max_seq_length`` (256 for LaBSE). vectorhub's default was 128: pass 128 to
            reproduce its truncation length.
        normalize: L2-normalise the vectors (vectorhub's default, True). A model whose
            pipeline ends with Normalize (LaBSE does) returns unit vectors either way.
        **model_kwargs: passed to :class:`labse.Model` (device, threads, batch_tokens).

    Truncation follows the reference (HuggingFace) tokenizer: a text longer than
    ``max_seq_length`` keeps its first ``max_seq_length - 2`` WordPieces (a word may be cut),
    then ``[SEP]`` — the final [SEP] is always kept. Texts are stripped of surrounding
    whitespace as sentence-transformers does.

    Thread safety: as :class:`labse.Model` — an instance may be shared between threads.
    """

    def __init__(self, model_path: Union[str, os.PathLike], max_seq_length: int | None = None,
                 normalize: bool = True, **model_kwargs):
        self.normalize = normalize
        self.model = Model(model_path, max_length=max_seq_length, **model_kwargs)
        self.max_seq_length = self.model.max_length
        self.vector_length = self.model.dim

    def encode(self, text: str) -> List[float]:
        """The embedding of one text, as a list of ``vector_length`` Python floats."""
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"LaBSE2Vec.encode takes one str, got {type(text).__name__}")
        return self.model.encode(text, normalize=self.normalize, dtype=np.float32).tolist()

    def bulk_encode(self, texts: Sequence[str]) -> List[List[float]]:
        """Embeddings of several texts: a list (one per text, in order) of lists of floats."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("LaBSE2Vec.bulk_encode takes a list of texts, not one str")
        return self.model.encode(list(texts), normalize=self.normalize,
                                 dtype=np.float32).tolist()

    def close(self) -> None:
        """Free the native model now (otherwise at garbage collection)."""
        self.model.close()
