"""Build a batch test corpus from the real data in ../shared (nothing is committed).

Into DEST it writes:

- ``photos/``: FER+ test photos (48x48 grey PNGs of the FER2013 PrivateTest rows that FER+
  kept, in file order) decoded from ``datasets/fer2013/fer2013.csv.gz``;
- ``videos/``: the shared media videos copied under several names (``<stem>-<n>.<ext>``);
- ``audio/``: RAVDESS clips (``datasets/ravdess/Actor_*/*.flac``, in name order);
- ``corrupt/``: a truncated PNG, a text file named ``.jpg``, an empty ``.wav`` and the first
  half of an MP4;
- ``manifest.csv``: every file above with a ``path`` column and two metadata columns
  (``group``: photos/videos/audio/corrupt, ``item``: its number).

    python benchmarks/batch_corpus.py DEST [--photos 3000] [--videos smile_pyfeat_single_face.mp4,...]
        [--copies 4] [--audio 24] [--no-corrupt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTLENS_SHARED", ROOT.parent / "shared"))
DEFAULT_VIDEOS = ("talking_grid_s_swwp2s.mpg", "smile_pyfeat_single_face.mp4")


def ferplus_test_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(row numbers, 48x48 pixels) of the first ``n`` FER+ test photos (PrivateTest rows with a
    FER+ image name)."""
    from affectlens.eval.datasets import read_fer2013
    from affectlens.eval.datasets.fer2013 import read_ferplus_votes

    root = SHARED / "datasets"
    _, pixels, usage = read_fer2013(root)
    _, has_name, _ = read_ferplus_votes(root)
    rows = np.flatnonzero((usage == "PrivateTest") & has_name)[:n]
    if len(rows) < n:
        raise ValueError(f"FER+ has only {len(rows)} test photos; asked for {n}")
    return rows, pixels[rows]


def write_photos(dest: Path, n: int) -> list[Path]:
    from PIL import Image

    folder = dest / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    rows, pixels = ferplus_test_rows(n)
    out = []
    for r, px in zip(rows, pixels):
        path = folder / f"ferplus_{r:05d}.png"
        Image.fromarray(px).save(path)
        out.append(path)
    return out


def copy_videos(dest: Path, names: tuple[str, ...], copies: int) -> list[Path]:
    folder = dest / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        src = SHARED / "media" / "videos" / name
        for i in range(copies):
            path = folder / f"{src.stem}-{i}{src.suffix}"
            shutil.copyfile(src, path)
            out.append(path)
    return out


def copy_audio(dest: Path, n: int) -> list[Path]:
    folder = dest / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    clips = sorted((SHARED / "datasets" / "ravdess").glob("Actor_*/*.flac"))[:n]
    out = []
    for src in clips:
        path = folder / src.name
        shutil.copyfile(src, path)
        out.append(path)
    return out


def write_corrupt(dest: Path, photo: Path | None) -> list[Path]:
    folder = dest / "corrupt"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    if photo is not None:
        out.append(folder / "truncated.png")
        out[-1].write_bytes(photo.read_bytes()[:60])
    out.append(folder / "not_an_image.jpg")
    out[-1].write_text("this is text, not a JPEG\n", encoding="utf-8")
    out.append(folder / "empty.wav")
    out[-1].write_bytes(b"")
    video = (SHARED / "media" / "videos" / "smile_pyfeat_single_face.mp4").read_bytes()
    out.append(folder / "half_video.mp4")
    out[-1].write_bytes(video[: len(video) // 2])
    return out


def build(
    dest: str | Path,
    photos: int = 3000,
    videos: tuple[str, ...] = DEFAULT_VIDEOS,
    copies: int = 4,
    audio: int = 24,
    corrupt: bool = True,
) -> dict[str, list[Path]]:
    """Write the corpus into ``dest``; ``{group: files}`` and ``dest/manifest.csv``."""
    import pandas as pd

    dest = Path(dest)
    groups = {
        "photos": write_photos(dest, photos) if photos else [],
        "videos": copy_videos(dest, videos, copies),
        "audio": copy_audio(dest, audio),
    }
    groups["corrupt"] = write_corrupt(dest, groups["photos"][0] if groups["photos"] else None) if corrupt else []
    rows = [{"path": str(p), "group": g, "item": i} for g, files in groups.items() for i, p in enumerate(files)]
    pd.DataFrame(rows).to_csv(dest / "manifest.csv", index=False)
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    ap.add_argument("--photos", type=int, default=3000)
    ap.add_argument("--videos", default=",".join(DEFAULT_VIDEOS), help="shared media video names, comma-separated")
    ap.add_argument("--copies", type=int, default=4, help="copies of each video")
    ap.add_argument("--audio", type=int, default=24, help="RAVDESS clips")
    ap.add_argument("--no-corrupt", action="store_true")
    args = ap.parse_args(argv)
    groups = build(
        args.dest,
        args.photos,
        tuple(v for v in args.videos.split(",") if v),
        args.copies,
        args.audio,
        not args.no_corrupt,
    )
    for g, files in groups.items():
        print(f"{g}: {len(files)} file(s)", file=sys.stderr)
    print(Path(args.dest) / "manifest.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
