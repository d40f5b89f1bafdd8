"""affectlens: offline emotion recognition on a CPU: faces, voice, text and their fusion.

>>> import affectlens
>>> result = affectlens.analyze("photo.jpg")          # doctest: +SKIP
>>> [f.expression.top for f in result.faces]          # doctest: +SKIP
>>> affectlens.to_dataframe([result])                 # doctest: +SKIP
>>> table = affectlens.analyze_video("clip.mp4")      # doctest: +SKIP
>>> [r.label for r in affectlens.analyze_texts(["I am so happy"])]  # doctest: +SKIP
>>> voice = affectlens.analyze_audio("speech.wav")     # doctest: +SKIP
>>> fused = affectlens.analyze_av("interview.mp4")     # doctest: +SKIP  (face + voice per speech segment)
"""

from affectlens.export import to_dataframe
from affectlens.io.image import InputError
from affectlens.models.text import TextResult
from affectlens.pipeline import Analyzer, AnalyzeOptions, analyze
from affectlens.pipeline.text import TextSegmentResult, analyze_texts, analyze_transcript
from affectlens.pipeline.speech import AVOptions, SpeechAnalyzer, analyze_audio, analyze_av, analyze_av_results
from affectlens.pipeline.video import VideoOptions, VideoSession, analyze_video, analyze_video_iter
from affectlens.registry import get_model_cfg, list_models, register_model
from affectlens.types import (
    ActionUnits,
    Affect,
    Expression,
    Face,
    FaceResult,
    FrameResult,
    HeadPose,
    ImageResult,
    SegmentResult,
    SpeechResult,
    TrackedFace,
    TrackSummary,
    VoiceSegment,
)

__version__ = "0.1.0"

__all__ = [
    "AVOptions",
    "ActionUnits",
    "Affect",
    "AnalyzeOptions",
    "Analyzer",
    "Expression",
    "Face",
    "FaceResult",
    "FrameResult",
    "HeadPose",
    "ImageResult",
    "InputError",
    "SegmentResult",
    "TextResult",
    "TextSegmentResult",
    "SpeechAnalyzer",
    "SpeechResult",
    "VoiceSegment",
    "TrackSummary",
    "TrackedFace",
    "VideoOptions",
    "VideoSession",
    "analyze",
    "analyze_texts",
    "analyze_transcript",
    "analyze_audio",
    "analyze_av",
    "analyze_av_results",
    "analyze_video",
    "analyze_video_iter",
    "get_model_cfg",
    "list_models",
    "register_model",
    "to_dataframe",
]
