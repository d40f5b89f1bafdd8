"""Is a text English? Offline language identification with ``py3langid`` (model inside its wheel).

The text models are trained on English only, so a text that is confidently in another language
gets the status ``unsupported language`` instead of an invented label. Short English texts are
easily misidentified ("ok", "lol", "no way" look like many languages), so a text is called
*not English* only when all of these hold:

* it has at least ``MIN_LETTERS`` letters, or it is written mostly in a non-Latin script
  (Cyrillic, CJK, Arabic … — decided by the script alone, however short);
* the identifier's top language is not English with normalised probability >= ``MIN_CONFIDENCE``;
* English itself gets a probability below ``MAX_ENGLISH``.

The false-alarm rate of this rule on the English test sets is measured by
``benchmarks/text_accuracy.py`` (``unsupported_rate``).
"""

from __future__ import annotations

import unicodedata

from affectlens.registry import cached

MIN_LETTERS = 8
MIN_CONFIDENCE = 0.5
MAX_ENGLISH = 0.05


def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return cached(("py3langid",), lambda: LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))


def _latin_share(text: str) -> tuple[int, float]:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0, 1.0
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    return len(letters), latin / len(letters)


def check_english(text: str) -> tuple[str, bool]:
    """(detected language code, whether to treat the text as English) by the rule above."""
    letters, latin = _latin_share(text)
    ranked = _identifier().rank(text)
    top, p_top = ranked[0]
    if latin < 0.5:
        return top, False
    if letters < MIN_LETTERS or top == "en":
        return top, True
    p_en = dict(ranked).get("en", 0.0)
    return top, not (p_top >= MIN_CONFIDENCE and p_en < MAX_ENGLISH)
