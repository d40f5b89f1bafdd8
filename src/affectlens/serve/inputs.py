"""Uploaded files → inputs of the job layer, checked against the limits before any model runs.

The kind of a job's file comes from its name's suffix (only a known suffix is used, and only
to name the file made here) or else its Content-Type; an image batch is a zip whose members
are extracted under made-up names, bounded in count and uncompressed size whatever their
headers claim (a zip bomb stops at the limit).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from affectlens.io.audio import AUDIO_SUFFIXES
from affectlens.io.image import IMAGE_SUFFIXES
from affectlens.io.video import VIDEO_SUFFIXES
from affectlens.jobs.probe import TRANSCRIPT_SUFFIXES
from affectlens.serve.errors import ApiError
from affectlens.serve.settings import MB, Settings

ZIP_SUFFIXES = frozenset({".zip"})
#: File beside a zip's extracted images: their made-up names → the members' names (shown only).
NAMES = "names.json"
JOB_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES | ZIP_SUFFIXES | TRANSCRIPT_SUFFIXES | {".json", ".txt"}
_TYPES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/mpeg": ".mpg",
    "video/x-msvideo": ".avi",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/x-subrip": ".srt",
    "text/vtt": ".vtt",
    "application/json": ".json",
    "text/plain": ".txt",
}


def job_suffix(filename: str | None, content_type: str) -> str:
    """The suffix a job input is stored under; 415 naming the valid ones when there is none."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix in JOB_SUFFIXES:
        return suffix
    by_type = _TYPES.get(content_type.split(";")[0].strip().lower())
    if by_type:
        return by_type
    raise ApiError(
        415,
        "unsupported_media_type",
        f"{filename or 'upload'}: unsupported input type {suffix or content_type or '(none)'}; "
        f"valid: a video, an audio file, a .zip of images, a transcript (.srt, .vtt, .json) or .txt",
    )


def check_image(path: Path, name: str, settings: Settings) -> None:
    """415 when ``path`` is no image, 413 when its header claims more pixels than allowed."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():  # the limit is ours, checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except Image.DecompressionBombError:
        w = h = 1 << 16
    except Exception:  # noqa: BLE001 - any failure to read a header means: not an image
        raise ApiError(415, "unsupported_media_type", f"{name}: not a readable image") from None
    if w * h > settings.max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{name}: image of {w}x{h} = {w * h / 1e6:.0f} Mpx exceeds the "
            f"limit of {settings.max_pixels / 1e6:.0f} Mpx (possible decompression bomb)",
        )


def check_media(path: Path, name: str, settings: Settings) -> None:
    """422 naming the reason when the job layer cannot read ``path``, or it is longer than allowed."""
    from affectlens.jobs.probe import probe

    try:
        info = probe(path)
    except ValueError as exc:  # InputError, AudioError, VideoError
        raise ApiError(422, "unreadable_input", f"{name}: {str(exc).split(': ', 1)[-1]}") from None
    if info.duration_ms > settings.max_video_s * 1000:
        raise ApiError(
            413, "too_long", f"{name}: {info.duration_ms / 1000:.0f} s exceeds the limit of {settings.max_video_s:g} s"
        )


def extract_images(archive: Path, folder: Path, name: str, settings: Settings) -> list[Path]:
    """The images of a zip, extracted as ``folder/000001.jpg`` … (their member names in
    ``folder/../names.json``); members that are no images are skipped. 413 when the batch exceeds the file count or the uncompressed size limit."""
    limit = int(settings.max_zip_mb * MB)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ApiError(422, "unreadable_input", f"{name}: not a readable zip archive ({exc})") from None
    folder.mkdir(parents=True, exist_ok=True)
    out, total, names = [], 0, {}
    with zf:
        members = [
            m for m in zf.infolist() if not m.is_dir() and PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES
        ]
        if len(members) > settings.max_zip_files:
            raise ApiError(
                413, "too_large", f"{name}: {len(members)} images exceed the limit of {settings.max_zip_files}"
            )
        for i, member in enumerate(members, start=1):
            target = folder / f"{i:06d}{PurePosixPath(member.filename).suffix.lower()}"
            total = _copy_bounded(zf, member, target, total, limit, name)
            check_image(target, f"{name}:{display(member.filename)}", settings)
            out.append(target)
            names[target.name] = f"{name}:{display(member.filename)}"
    if not out:
        raise ApiError(
            422, "unreadable_input", f"{name}: the zip holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    (folder.parent / NAMES).write_text(json.dumps(names), encoding="utf-8")
    return out


def display(member: str) -> str:
    from affectlens.serve.uploads import display_name

    return display_name(member, "member")


def _copy_bounded(zf: zipfile.ZipFile, member, target: Path, total: int, limit: int, name: str) -> int:
    """Copy one member, counting real uncompressed bytes (headers can lie); the new total."""
    try:
        with zf.open(member) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise ApiError(
                        413, "too_large", f"{name}: more than {limit / MB:.0f} MB uncompressed (possible zip bomb)"
                    )
                dst.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ApiError(422, "unreadable_input", f"{name}: damaged zip member ({exc})") from None
    return total


def remove(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
