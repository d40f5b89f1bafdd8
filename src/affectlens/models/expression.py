"""Expression classifiers run with onnxruntime on the CPU: preprocess → forward → postprocess."""

from __future__ import annotations

import numpy as np

from affectlens.models.quality import QualityTemperature
from affectlens.models.runtime import onnx_session
from affectlens.registry import ModelCfg, create


def log_softmax(logits: np.ndarray, temperature=1.0) -> np.ndarray:
    """Row-wise ``log softmax(logits / temperature)``; ``temperature`` is a number or one per row (N, 1)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class ExpressionModel:
    """One registered expression model. Each step is public and usable alone."""

    def __init__(self, cfg: ModelCfg, threads: int = 2):
        if cfg.kind != "expression":
            raise ValueError(
                f"model {cfg.name!r} is of kind {cfg.kind!r}, not an expression model; see 'affectlens models'"
            )
        self.cfg = cfg
        if not cfg.path.is_file():
            raise FileNotFoundError(f"model {cfg.name!r}: weights file {cfg.path} is missing")
        self.session = onnx_session(cfg.path, threads)
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        if cfg.output not in outputs:
            raise ValueError(f"model {cfg.name!r}: output {cfg.output!r} not in {cfg.path.name} (has {outputs})")
        q = cfg.quality_temperature
        self.quality = QualityTemperature.from_config(q, cfg.name) if q else None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.cfg.labels

    def preprocess(self, crops) -> np.ndarray:
        """uint8 crops (N, S, S) grey or (N, S, S, 3) RGB → float32 (N, C, S, S), normalised."""
        x = np.asarray(crops, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, :, :, None]
        s = self.cfg.input_size
        channels = 1 if self.cfg.colour == "gray" else 3
        if x.ndim != 4 or x.shape[1:] != (s, s, channels):
            raise ValueError(
                f"model {self.cfg.name!r} expects crops of shape (N, {s}, {s}{', 3' if channels == 3 else ''}), got {np.shape(crops)}"
            )
        x = (x - np.asarray(self.cfg.mean, np.float32)) / np.asarray(self.cfg.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, K); with ``flip_tta`` the mean of the crop's and its mirror's logits."""
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.cfg.flip_tta:
            both = np.concatenate([x, x[:, :, :, ::-1]])
            out = self.session.run([self.cfg.output], {self.input_name: both})[0]
            return (out[: len(x)] + out[len(x) :]) / 2
        return self.session.run([self.cfg.output], {self.input_name: x})[0]

    def postprocess(self, logits: np.ndarray, crops=None) -> np.ndarray:
        """Probabilities (N, K) from logits, with the model's temperature.

        ``crops``: the uint8 crops the logits came from. With them, a model that has a
        ``quality_temperature`` gives each face its own temperature (:mod:`affectlens.models.quality`:
        blurred, tiny or covered faces get flatter probabilities); without them, or for other
        models, every face gets the one temperature. The top label is the same either way.
        """
        if self.quality is None or crops is None:
            return softmax(logits, self.cfg.temperature)
        return softmax(logits, self.temperatures(logits, crops)[:, None])

    def temperatures(self, logits: np.ndarray, crops=None) -> np.ndarray:
        """The temperature each face's logits are divided by in :meth:`postprocess` (N,)."""
        logits = np.asarray(logits, dtype=np.float64).reshape(-1, len(self.labels))
        if self.quality is None or crops is None:
            return np.full(len(logits), float(self.cfg.temperature))
        if len(crops) != len(logits):
            raise ValueError(f"model {self.cfg.name!r}: {len(crops)} crops for {len(logits)} rows of logits")
        return self.cfg.temperature * self.quality.factors(crops, logits)

    def predict(self, crops) -> np.ndarray:
        return self.postprocess(self.forward(self.preprocess(crops)), crops)


def load_expression_model(name: str | None = None, threads: int = 2) -> ExpressionModel:
    """The registered model ``name`` (default model if None): ``registry.create(name, "expression", threads)``."""
    return create(name, "expression", threads)
