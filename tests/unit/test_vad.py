"""Turning per-window speech probabilities into utterances (pure function, hand-made inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.detect.vad import VadOptions, probs_to_segments

W = 32.0  # ms per VAD window


def _segs(probs, **kw):
    probs = np.asarray(probs, np.float32)
    return probs_to_segments(probs, len(probs) * 512, VadOptions(**kw))


def test_short_pause_stays_inside_one_utterance():
    s = _segs([0] * 10 + [0.9] * 20 + [0.1] * 5 + [0.9] * 10 + [0] * 20)  # 160 ms pause < 300 ms
    assert len(s) == 1
    assert s[0].start_ms == pytest.approx(10 * W - 60) and s[0].end_ms == pytest.approx(45 * W + 60)


def test_long_pause_splits_and_short_blips_are_dropped():
    s = _segs([0] * 10 + [0.9] * 20 + [0.0] * 15 + [0.9] * 10 + [0] * 20 + [0.9] * 5 + [0] * 20)
    assert [(round(x.start_ms), round(x.end_ms)) for x in s] == [(260, 1020), (1380, 1820)]  # 160 ms blip dropped


def test_long_utterances_are_cut_into_equal_parts():
    s = _segs([0.9] * 700, max_segment_ms=10000)  # 22.4 s of speech
    assert len(s) == 3 and all(x.duration_ms == pytest.approx(22400 / 3) for x in s)


def test_silence_has_no_segments_and_options_are_checked():
    assert _segs([0.01] * 100) == []
    with pytest.raises(ValueError, match="threshold"):
        VadOptions(threshold=1.5)
