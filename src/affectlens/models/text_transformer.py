"""Transformer text model (engine ``transformer``): an ONNX encoder run by onnxruntime.

Staged public steps: :meth:`TransformerTextModel.encode` (token ids, with the dialogue context
as the second segment, :mod:`affectlens.models.text_tokens`) → :meth:`~TransformerTextModel.run`
(logits and pooled embeddings) → :meth:`~affectlens.models.text.BaseTextModel.postprocess`
(temperature-scaled probabilities over the canonical labels); :meth:`predict` adds the input
checks (empty text, unsupported language) and ``uncertain``. Needs ``tokenizers`` and
onnxruntime only (no torch).
"""

from __future__ import annotations

import numpy as np

from affectlens.models.text import BaseTextModel
from affectlens.models.text_tokens import Encoded, encode, load_tokenizer, pad, token_rows
from affectlens.registry import ModelCfg

INPUTS = ("input_ids", "token_type_ids", "attention_mask")
OUTPUTS = ("logits", "embedding")
BATCH = 32


class TransformerTextModel(BaseTextModel):
    """One registered transformer text model. ``threads``: onnxruntime intra-op threads."""

    engine = "transformer"

    def __init__(self, cfg: ModelCfg, check_language: bool = True, threads: int = 2):
        super().__init__(cfg, check_language)
        from affectlens.models.runtime import onnx_session

        tok_path = cfg.path.parent / cfg.tokenizer
        if not tok_path.is_file():
            raise FileNotFoundError(f"model {cfg.name!r}: tokenizer file {tok_path} is missing")
        self.tokenizer = load_tokenizer(tok_path)
        self.session = onnx_session(cfg.path, threads)
        n_out = self.session.get_outputs()[0].shape[-1]
        if n_out != len(cfg.labels):
            raise ValueError(f"model {cfg.name!r}: {cfg.path.name} has {n_out} outputs, expected {len(cfg.labels)}")

    def encode(self, texts, contexts=None) -> Encoded:
        """Token ids of texts (and their dialogue contexts) as one padded batch."""
        return encode(self.tokenizer, texts, contexts, self.cfg.max_tokens, self.cfg.max_text_tokens)

    def run(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """(logits (N, K), mean-pooled embeddings (N, H)) of one encoded batch."""
        logits, emb = self.session.run(list(OUTPUTS), dict(zip(INPUTS, (enc.ids, enc.types, enc.mask))))
        return logits.astype(np.float64), emb

    def forward(self, texts, contexts=None) -> np.ndarray:
        """Logits (N, K) over :attr:`labels`; rows are batched by length (less padding)."""
        texts = list(texts)
        contexts = [""] * len(texts) if contexts is None else list(contexts)
        if len(contexts) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(contexts)} contexts")
        out = np.zeros((len(texts), len(self.labels)))
        if not texts:
            return out
        rows = token_rows(self.tokenizer, texts, contexts, self.cfg.max_tokens, self.cfg.max_text_tokens)
        order = np.argsort([len(r) for r, _ in rows], kind="stable")
        for i in range(0, len(rows), BATCH):
            idx = order[i : i + BATCH]
            out[idx] = self.run(pad([rows[j] for j in idx]))[0]
        return out
