"""affectlens: offline emotion recognition on a CPU: faces, voice, text and their fusion.

>>> import affectlens
>>> for result in affectlens.run(["photo.jpg", "talk.mp4"]):     # doctest: +SKIP
...     print(type(result).__name__, result.source)
>>> result = affectlens.analyze("photo.jpg")                     # doctest: +SKIP
>>> [f.expression.top for f in result.faces]                     # doctest: +SKIP
>>> affectlens.to_dataframe([result])                            # doctest: +SKIP
"""

from affectlens.api import analyze_audio, analyze_av, analyze_video, analyze_video_iter
from affectlens.export import to_dataframe
from affectlens.io.image import InputError
from affectlens.jobs import MediaInfo, Progress, Runner, Texts, probe, run
from affectlens.models.text import TextResult
from affectlens.options import Options, OutputOptions
from affectlens.pipeline import Analyzer, analyze
from affectlens.pipeline.speech import SpeechAnalyzer
from affectlens.pipeline.text import TextSegmentResult, analyze_texts, analyze_transcript
from affectlens.pipeline.video import VideoSession
from affectlens.registry import get_model_cfg, list_models, register_model
from affectlens.types import (
    ActionUnits,
    Affect,
    Expression,
    ExpressionSpan,
    Face,
    FaceResult,
    FrameResult,
    HeadPose,
    ImageResult,
    InputFailure,
    SegmentResult,
    SpeechResult,
    TextItemResult,
    TrackedFace,
    TrackSummary,
    VoiceSegment,
)

__version__ = "0.1.0"

__all__ = [
    "ActionUnits",
    "Affect",
    "Analyzer",
    "Expression",
    "ExpressionSpan",
    "Face",
    "FaceResult",
    "FrameResult",
    "HeadPose",
    "ImageResult",
    "InputError",
    "InputFailure",
    "MediaInfo",
    "Options",
    "OutputOptions",
    "Progress",
    "Runner",
    "SegmentResult",
    "SpeechAnalyzer",
    "SpeechResult",
    "TextItemResult",
    "TextResult",
    "TextSegmentResult",
    "Texts",
    "TrackSummary",
    "TrackedFace",
    "VideoSession",
    "VoiceSegment",
    "analyze",
    "analyze_audio",
    "analyze_av",
    "analyze_texts",
    "analyze_transcript",
    "analyze_video",
    "analyze_video_iter",
    "get_model_cfg",
    "list_models",
    "probe",
    "register_model",
    "run",
    "to_dataframe",
]
