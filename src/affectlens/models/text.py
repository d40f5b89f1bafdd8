"""Text emotion model: TF-IDF n-grams + a linear classifier, evaluated in numpy (no extra needed).

Staged public steps: :func:`normalize_text` → :meth:`TextEmotionModel.features` →
:meth:`TextEmotionModel.forward` (logits) → :meth:`TextEmotionModel.postprocess` (probabilities),
and the convenience :meth:`TextEmotionModel.predict` that adds the input checks (empty text,
unsupported language) and returns one frozen :class:`TextResult` per text.

The weights file (``.npz``, written by :mod:`affectlens.train.text`) holds three TF-IDF blocks,
each with its vocabulary and idf: ``word`` (word 1-2-grams of the text), ``char`` (character
2-5-grams inside word boundaries of the text) and ``ctx`` (word 1-grams of the preceding dialogue
turns, scaled by ``ctx_weight``); then ``coef`` (n_features, K) and ``intercept`` (K,). The
analyzers below are the very functions the training code hands to scikit-learn, so training and
inference featurize identically; the TF-IDF weighting is sklearn's (sublinear tf, smooth idf,
L2 norm per block).
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

from affectlens.labels import CANONICAL
from affectlens.models.expression import softmax
from affectlens.models.uncertainty import Thresholds, max_logit, top2_margin
from affectlens.registry import ModelCfg, create

log = logging.getLogger("affectlens")

STATUSES = ("ok", "empty", "unsupported language", "too long")
#: Longest text scored (about 3,000 words; the model reads sentences to short paragraphs). A longer
#: text gets the status ``too long`` and no probabilities: its features would take memory and time
#: in proportion to its length (a 10 MB line took 2.1 GB and 40 s).
MAX_TEXT_CHARS = 20_000
BLOCKS = ("word", "char", "ctx")

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u0092": "'"})
_WORD = re.compile(r"[^\W_][\w']*|[!?]|[:;]-?[()dp]")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, straight quotes, lower case, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return _SPACE.sub(" ", text).strip()


def word_tokens(text: str) -> list[str]:
    """Words (with inner apostrophes), ``!``, ``?`` and simple emoticons of normalized text."""
    return _WORD.findall(text)


def word_ngrams(text: str) -> list[str]:
    """Word 1- and 2-grams of raw text."""
    tokens = word_tokens(normalize_text(text))
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def context_words(text: str) -> list[str]:
    """Word 1-grams of raw context text."""
    return word_tokens(normalize_text(text))


def char_ngrams(text: str, lo: int = 2, hi: int = 5) -> list[str]:
    """Character ``lo``..``hi``-grams of each space-padded word (like sklearn's ``char_wb``)."""
    out = []
    for word in normalize_text(text).split(" "):
        if not word:
            continue
        w = f" {word} "
        for n in range(lo, hi + 1):
            if n > len(w):
                break
            out.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return out


ANALYZERS = {"word": word_ngrams, "char": char_ngrams, "ctx": context_words}


@dataclass(frozen=True)
class TextResult:
    """The model's answer for one text.

    ``status`` is ``ok`` (``probs`` over ``labels``, which are the 8 canonical labels, sum to 1),
    ``empty`` (no letters or digits), ``unsupported language`` (confidently not English, see
    :mod:`affectlens.models.language`) or ``too long`` (more than :data:`MAX_TEXT_CHARS`
    characters); for those three ``probs`` is empty and ``label`` None.
    ``language`` is ``en`` for a scored text and the detected ISO 639-1 code for an unsupported
    one when the language check ran (``""`` when it did not, or for an empty text).
    ``uncertain`` is true for a scored text whose answer should not be relied on;
    ``uncertain_reason`` says why (``ambiguous``: top-two probability margin below the model's
    ``margin`` threshold; ``unknown class``: largest raw logit below ``min_max_logit``, text unlike
    the emotional texts the model was validated on), reasons joined by ``;``. Models without
    fitted thresholds never set it.
    """

    text: str
    status: str
    probs: tuple[float, ...] = ()
    labels: tuple[str, ...] = CANONICAL
    language: str = ""
    uncertain: bool = False
    uncertain_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str | None:
        return self.labels[int(np.argmax(self.probs))] if self.probs else None

    @property
    def top_prob(self) -> float | None:
        return float(max(self.probs)) if self.probs else None

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.probs)) if self.probs else {}


@dataclass(frozen=True)
class _Block:
    vocab: dict
    idf: np.ndarray
    offset: int


def is_empty(text: str) -> bool:
    """True when ``text`` has no letter or digit (empty, whitespace, punctuation only)."""
    return not any(ch.isalnum() for ch in text)


class BaseTextModel:
    """What every text model shares: label mapping, temperature, input checks, ``uncertain``.

    An engine subclass provides :meth:`forward` (texts, contexts) -> logits (N, K) over
    :attr:`labels`.
    """

    engine = ""
    needs_file = True  # an ensemble has no weights file of its own

    def __init__(self, cfg: ModelCfg, check_language: bool = True):
        if cfg.kind != "text":
            raise ValueError(f"model {cfg.name!r} is of kind {cfg.kind!r}, not 'text'")
        if cfg.engine != self.engine:
            raise ValueError(
                f"model {cfg.name!r} uses the text engine {cfg.engine!r}, not {self.engine!r}; "
                f"create it with affectlens.models.text.create_text_model"
            )
        if self.needs_file and not cfg.path.is_file():
            raise FileNotFoundError(f"model {cfg.name!r}: weights file {cfg.path} is missing")
        self.cfg = cfg
        self.check_language = check_language
        self._to_canonical = np.asarray([CANONICAL.index(label) for label in cfg.labels])
        self.thresholds = Thresholds.from_config(cfg.thresholds)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels the weights score (a subset of the canonical labels)."""
        return self.cfg.labels

    def forward(self, texts, contexts=None) -> np.ndarray:
        raise NotImplementedError

    def postprocess(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities (N, 8) over the canonical labels (labels the model lacks get 0)."""
        p = softmax(logits, self.cfg.temperature)
        full = np.zeros((len(p), len(CANONICAL)))
        full[:, self._to_canonical] = p
        return full

    def predict_proba(self, texts, contexts=None) -> np.ndarray:
        """Probabilities (N, 8) over the canonical labels, without the input checks."""
        return self.postprocess(self.forward(list(texts), contexts))

    def uncertainty(self, logits: np.ndarray, probs: np.ndarray) -> list[str]:
        """``uncertain_reason`` per row ("" when certain), from the fitted thresholds."""
        t = self.thresholds
        flags = []
        if t.margin is not None:
            flags.append(("ambiguous", top2_margin(probs) < t.margin))
        if t.min_max_logit is not None:
            flags.append(("unknown class", max_logit(logits) < t.min_max_logit))
        return [";".join(name for name, f in flags if f[i]) for i in range(len(probs))]

    def _check(self, text, index: int = 0) -> tuple[str, str]:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}: {text!r}")
        if len(text) > MAX_TEXT_CHARS:
            log.warning(
                "text %d (%r...): %d characters is more than the limit of %d; not scored (status 'too long')",
                index + 1,
                text[:30],
                len(text),
                MAX_TEXT_CHARS,
            )
            return "too long", ""
        if is_empty(text):
            return "empty", ""
        if not self.check_language:
            return "ok", ""
        from affectlens.models.language import check_english

        lang, english = check_english(text)
        return ("ok", "en") if english else ("unsupported language", lang)

    def predict(self, texts, contexts=None) -> list[TextResult]:
        """One :class:`TextResult` per text; ``contexts`` are optional preceding dialogue turns."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        contexts = [""] * len(texts) if contexts is None else list(contexts)
        if len(contexts) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(contexts)} contexts")
        status, language = zip(*(self._check(t, i) for i, t in enumerate(texts))) if texts else ((), ())
        keep = [i for i, s in enumerate(status) if s == "ok"]
        scored: dict[int, tuple[tuple[float, ...], str]] = {}
        if keep:
            logits = self.forward([texts[i] for i in keep], [contexts[i] for i in keep])
            probs = self.postprocess(logits)
            reasons = self.uncertainty(logits, probs)
            scored = {i: (tuple(float(v) for v in probs[j]), reasons[j]) for j, i in enumerate(keep)}
        out = []
        for i, (text, s, lang) in enumerate(zip(texts, status, language)):
            probs_i, reason = scored.get(i, ((), ""))
            out.append(TextResult(text, s, probs_i, CANONICAL, lang, bool(reason), reason))
        return out


class TextEmotionModel(BaseTextModel):
    """A TF-IDF text model (engine ``tfidf``). Each step is public and usable alone."""

    engine = "tfidf"

    def __init__(self, cfg: ModelCfg, check_language: bool = True):
        super().__init__(cfg, check_language)
        with np.load(cfg.path, allow_pickle=False) as z:
            self.coef = z["coef"].astype(np.float32)
            self.intercept = z["intercept"].astype(np.float64)
            self.ctx_weight = float(z["ctx_weight"])
            self.blocks: dict[str, _Block] = {}
            offset = 0
            for name in BLOCKS:
                terms = str(z[f"{name}_vocab"]).split("\n")
                self.blocks[name] = _Block(
                    {t: i for i, t in enumerate(terms)}, z[f"{name}_idf"].astype(np.float64), offset
                )
                offset += len(terms)
        if offset != self.coef.shape[0] or self.coef.shape[1] != len(cfg.labels):
            raise ValueError(
                f"model {cfg.name!r}: {cfg.path.name} has coef {self.coef.shape}, "
                f"expected ({offset}, {len(cfg.labels)})"
            )

    def _block(self, name: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        block = self.blocks[name]
        counts = Counter(t for t in ANALYZERS[name](text) if t in block.vocab)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0)
        idx = np.fromiter((block.vocab[t] for t in counts), np.int64, len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))
        values = tf * block.idf[idx]
        values /= math.sqrt(float(values @ values))
        return idx + block.offset, values

    def features(self, text: str, context: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF features of one text (and its dialogue context): (indices, values)."""
        parts = [self._block("word", text), self._block("char", text)]
        if context and self.ctx_weight > 0:
            idx, val = self._block("ctx", context)
            parts.append((idx, val * self.ctx_weight))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def forward(self, texts, contexts=None) -> np.ndarray:
        """Logits (N, K) over :attr:`labels`."""
        contexts = [""] * len(texts) if contexts is None else list(contexts)
        if len(contexts) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(contexts)} contexts")
        out = np.tile(self.intercept, (len(texts), 1))
        for i, (text, context) in enumerate(zip(texts, contexts)):
            idx, val = self.features(text, context)
            if len(idx):
                out[i] += val @ self.coef[idx]
        return out


def create_text_model(cfg: ModelCfg, check_language: bool = True, threads: int = 2) -> BaseTextModel:
    """The model object for a text config, chosen by its ``engine`` (never by the file)."""
    if cfg.engine == "transformer":
        from affectlens.models.text_transformer import TransformerTextModel

        return TransformerTextModel(cfg, check_language=check_language, threads=threads)
    if cfg.engine == "ensemble":
        from affectlens.models.text_ensemble import EnsembleTextModel

        return EnsembleTextModel(cfg, check_language=check_language, threads=threads)
    return TextEmotionModel(cfg, check_language=check_language)


def load_text_model(name: str | None = None, check_language: bool = True) -> BaseTextModel:
    """The registered text model ``name`` (the default text model if None):
    ``registry.create(name, "text", check_language=check_language)``."""
    return create(name, "text", check_language=check_language)
