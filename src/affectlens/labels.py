"""Canonical expression labels and the synonyms that map other data sets onto them."""

from __future__ import annotations

#: The 8 FER+ classes, in the order every affectlens expression model uses.
CANONICAL = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

#: The 7 original FER2013 classes in FER2013's own index order (``emotion`` column 0..6),
#: written with canonical names.
FER2013_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

SYNONYMS: dict[str, str] = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "happy": "happiness",
    "happiness": "happiness",
    "joy": "happiness",
    "surprise": "surprise",
    "surprised": "surprise",
    "sad": "sadness",
    "sadness": "sadness",
    "angry": "anger",
    "anger": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "contempt": "contempt",
    "contemptuous": "contempt",
}


def canonical_label(name: str) -> str:
    """Map a label name (any case, common synonyms) onto a canonical label.

    Raises ``ValueError`` naming the unknown label and the known names.
    """
    key = name.strip().lower()
    if key not in SYNONYMS:
        known = ", ".join(sorted(SYNONYMS))
        raise ValueError(f"unknown expression label {name!r}; known names: {known}")
    return SYNONYMS[key]
