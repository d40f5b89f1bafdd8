"""affectlens: offline facial expression recognition on a CPU.

>>> import affectlens
>>> result = affectlens.analyze("photo.jpg")          # doctest: +SKIP
>>> [f.expression.top for f in result.faces]          # doctest: +SKIP
>>> affectlens.to_dataframe([result])                 # doctest: +SKIP
>>> table = affectlens.analyze_video("clip.mp4")      # doctest: +SKIP  (needs the [video] extra)
"""

from affectlens.export import to_dataframe
from affectlens.io.image import InputError
from affectlens.pipeline import Analyzer, AnalyzeOptions, analyze
from affectlens.pipeline.video import VideoOptions, VideoSession, analyze_video, analyze_video_iter
from affectlens.registry import get_model_cfg, list_models, register_model
from affectlens.types import Affect, Expression, Face, FaceResult, FrameResult, ImageResult, TrackedFace, TrackSummary

__version__ = "0.1.0"

__all__ = [
    "Affect",
    "AnalyzeOptions",
    "Analyzer",
    "Expression",
    "Face",
    "FaceResult",
    "FrameResult",
    "ImageResult",
    "InputError",
    "TrackSummary",
    "TrackedFace",
    "VideoOptions",
    "VideoSession",
    "analyze",
    "analyze_video",
    "analyze_video_iter",
    "get_model_cfg",
    "list_models",
    "register_model",
    "to_dataframe",
]
