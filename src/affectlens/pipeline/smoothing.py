"""Temporal smoothing of each track's expression probabilities.

A smoother keeps one state per track id: :meth:`update` takes a track's raw probabilities at
``time_ms`` and returns smoothed ones (still summing to 1); :meth:`reset` forgets every track
(call it between videos) and :meth:`drop` forgets one. Methods:

- ``none``: the raw probabilities.
- ``ema``: exponential moving average ``s = alpha * p + (1 - alpha) * s``, with ``alpha`` per
  ``ema_ms`` milliseconds so uneven frame spacing is handled.
- ``oneeuro``: the One Euro filter (Casiez, Roussel, Vogel 2012), low lag when probabilities
  change fast and strong smoothing when they hold still (``min_cutoff`` Hz, ``beta``).
"""

from __future__ import annotations

import math

import numpy as np

from affectlens.options import SMOOTHING_METHODS, SmoothingOptions  # noqa: F401  (the options tree owns them)


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.0, None)
    total = p.sum()
    return p / total if total > 0 else np.full_like(p, 1.0 / len(p))


class Smoother:
    """Per-track smoothing of probability vectors (see module doc)."""

    def __init__(self, options: SmoothingOptions | None = None):
        self.options = options or SmoothingOptions()
        self.reset()

    def reset(self) -> None:
        self._state: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}  # track -> (ms, value, derivative)

    def drop(self, track: int) -> None:
        self._state.pop(track, None)

    def update(self, track: int, time_ms: float, probs) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        o = self.options
        prev = self._state.get(track)
        if o.method == "none" or prev is None:
            self._state[track] = (time_ms, p, np.zeros_like(p))
            return p.copy()
        last_ms, value, deriv = prev
        dt = time_ms - last_ms
        if dt <= 0:
            raise ValueError(f"smoother needs increasing timestamps for track {track}: {time_ms} ms after {last_ms} ms")
        if o.method == "ema":
            alpha = 1.0 - math.exp(-dt / o.ema_ms)
            out = alpha * p + (1 - alpha) * value
            self._state[track] = (time_ms, out, deriv)
            return _normalise(out)
        dt_s = dt / 1000.0
        a_d = _alpha(dt_s, o.d_cutoff)
        deriv = a_d * (p - value) / dt_s + (1 - a_d) * deriv
        cutoff = o.min_cutoff + o.beta * np.abs(deriv)
        a = np.array([_alpha(dt_s, c) for c in cutoff])
        out = a * p + (1 - a) * value
        self._state[track] = (time_ms, out, deriv)
        return _normalise(out)


def _alpha(dt_s: float, cutoff: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt_s)
