"""Token ids for the transformer text model: one text, optionally with its dialogue context.

Shared by training (:mod:`affectlens.train.text_transformer`) and inference
(:mod:`affectlens.models.text_transformer`) so both see identical inputs. Layout of one row::

    [CLS] text tokens (at most max_text) [SEP]                               (no context)
    [CLS] text tokens (at most max_text) [SEP] last context tokens [SEP]     (with context)

Text tokens have token type 0, context tokens type 1. The context is cut from its start (the
most recent turns are kept) so the row fits ``max_len``. Rows are padded with ``[PAD]`` to the
longest row of the batch; ``mask`` is 1 on real tokens. Needs the ``tokenizers`` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """A padded batch: ``ids``, ``types`` and ``mask``, each int64 of shape (N, T)."""

    ids: np.ndarray
    types: np.ndarray
    mask: np.ndarray


def load_tokenizer(path: Path):
    """A fast WordPiece tokenizer from ``tokenizer.json`` (truncation and padding off)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def encodable(text: str) -> str:
    """``text`` with lone surrogates (from undecodable bytes or JSON escapes) as U+FFFD: the
    tokenizer only takes text that UTF-8 can encode."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def token_rows(tok, texts, contexts, max_len: int, max_text: int) -> list[tuple[list[int], int]]:
    """Per text: its token ids (specials included) and the index where context starts (or len)."""
    if max_text + 2 > max_len:
        raise ValueError(f"max_text {max_text} + 2 special tokens exceeds max_len {max_len}")
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    text_ids = [e.ids for e in tok.encode_batch([encodable(t) for t in texts], add_special_tokens=False)]
    has_ctx = [i for i, c in enumerate(contexts) if c]
    ctx_ids = dict(
        zip(
            has_ctx,
            (e.ids for e in tok.encode_batch([encodable(contexts[i]) for i in has_ctx], add_special_tokens=False)),
        )
    )
    rows = []
    for i, ids in enumerate(text_ids):
        row = [cls, *ids[:max_text], sep]
        start = len(row)
        room = max_len - len(row) - 1
        ctx = ctx_ids.get(i, [])
        if ctx and room > 0:
            row += ctx[-room:] + [sep]
        rows.append((row, start))
    return rows


def pad(rows: list[tuple[list[int], int]]) -> Encoded:
    """Pad token rows (from :func:`token_rows`) into one batch."""
    width = max(len(r) for r, _ in rows)
    ids = np.zeros((len(rows), width), np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, (row, start) in enumerate(rows):
        ids[i, : len(row)] = row
        types[i, start : len(row)] = 1
        mask[i, : len(row)] = 1
    return Encoded(ids, types, mask)


def encode(tok, texts, contexts=None, max_len: int = 128, max_text: int = 96) -> Encoded:
    """Token ids of texts (and contexts) as one padded batch."""
    texts = list(texts)
    contexts = [""] * len(texts) if contexts is None else list(contexts)
    if len(contexts) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(contexts)} contexts")
    return pad(token_rows(tok, texts, contexts, max_len, max_text))
