"""Hostile image inputs (issue 18, items 13 and 14): a deep-pixel bomb, Pillow warnings, and the
true reason for files that are not images (audio, video, FIFO, broken link, link loop, unreadable),
all crafted in a temporary folder from the real photos and media (../shared)."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlens.io.image import InputError, load_image, pixel_limit
from affectlens.jobs import expand


def png16_bomb(path: Path, width: int, height: int) -> Path:
    """A valid 16-bit grayscale PNG of zeros, compressed row by row (about 170 kB for 88 Mpx)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z, row = zlib.compressobj(9), bytes(1 + 2 * width)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_16bit_88_megapixel_png_is_refused_before_decoding(tmp_path):
    """Under the 8-bit limit (89 Mpx) but 16 bits deep: before the fix it decoded, taking 2.5 GB."""
    path = png16_bomb(tmp_path / "deep.png", 9400, 9400)
    assert path.stat().st_size < 300_000
    with pytest.raises(InputError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(f"{path}: image of 9400x9400 = 88 Mpx at 16 bits per channel") and "\n" not in message
    assert pixel_limit("I;16") == pixel_limit("RGB") // 2 and pixel_limit("F") == pixel_limit("L") // 4


def test_small_16bit_photo_decodes_as_before(photos, tmp_path):
    gray = np.asarray(Image.open(photos / "grace_hopper.jpg").convert("L"))
    path = tmp_path / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(path)  # 16-bit, same picture
    assert Image.open(path).mode.startswith("I")
    rgb = load_image(path).pixels
    assert rgb.shape == gray.shape + (3,) and np.array_equal(rgb[:, :, 0], gray) and np.array_equal(rgb[:, :, 2], gray)


def test_pillow_warnings_are_logged_naming_the_file(photos, tmp_path, caplog, recwarn):
    """A JPEG whose EXIF tag points past the end of its data: Pillow warns while reading the
    orientation. The warning is one log line naming the file, not a bare stderr warning."""
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHII", 0x010E, 2, 1000, 26) + struct.pack(">I", 0)
    buf = io.BytesIO()
    Image.open(photos / "grace_hopper.jpg").convert("RGB").save(buf, "JPEG", exif=b"Exif\x00\x00" + tiff)
    path = tmp_path / "bad_exif.jpg"
    path.write_bytes(buf.getvalue())
    with caplog.at_level(logging.WARNING, logger="affectlens"):
        assert load_image(path).pixels.shape == (600, 512, 3)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith(f"{path}: ") and "Skipping tag 270" in line for line in lines), lines
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# -- true reasons ----------------------------------------------------------------------------------------


def make_case(case: str, tmp_path: Path, photos: Path, videos: Path) -> Path:
    path = tmp_path / f"{case}.jpg"
    if case == "audio":
        import av

        with av.open(str(path), "w", format="wav") as out:  # a real WAV, named as a photo
            stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.int16), format="s16", layout="mono")
            frame.sample_rate = 16000
            for pkt in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(pkt)
    elif case == "video":
        shutil.copy(videos / "smile_pyfeat_single_face.mp4", path)
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "broken_link":
        path.symlink_to(tmp_path / "moved_away.jpg")
    elif case == "link_loop":
        path.symlink_to(path.name)
    return path


@pytest.mark.parametrize(
    "case,reason",
    [
        ("audio", "not an image: its content is audio"),
        ("video", "not an image: its content is a video"),
        ("fifo", "not a regular file (a FIFO / named pipe)"),
        ("broken_link", "broken symbolic link (its target"),
        ("link_loop", "symbolic link loop"),
    ],
)
def test_not_an_image_gives_the_true_reason(tmp_path, photos, videos, case, reason):
    path = make_case(case, tmp_path, photos, videos)
    with pytest.raises(InputError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message, message


def test_unreadable_file_says_permission_denied(photos, tmp_path):
    path = tmp_path / "secret.jpg"
    shutil.copy(photos / "grace_hopper.jpg", path)
    path.chmod(0)
    prefix = []
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    child = (
        "import sys\nfrom affectlens.io.image import load_image\n"
        "try:\n    load_image(sys.argv[1])\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc, sep='|')\n"
    )
    p = subprocess.run([*prefix, sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == f"InputError|{path}: permission denied (cannot read the file)", p.stdout + p.stderr


def test_broken_links_in_a_folder_are_reported_not_skipped(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos / "grace_hopper.jpg", folder / "grace.jpg")
    (folder / "broken.png").symlink_to(folder / "gone.png")
    (folder / "loop.jpg").symlink_to("loop.jpg")
    assert list(expand([folder])) == [str(folder / n) for n in ("broken.png", "grace.jpg", "loop.jpg")]
    out = tmp_path / "r.jsonl"
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(folder), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert any("broken.png: broken symbolic link" in line for line in p.stderr.splitlines())
    assert any("loop.jpg: symbolic link loop" in line for line in p.stderr.splitlines())
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {Path(r["source"]).name for r in recs} == {"grace.jpg"}


def test_fifo_given_directly_is_not_an_empty_file(photos, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    out = tmp_path / "r.jsonl"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "analyze",
            str(fifo),
            str(photos / "grace_hopper.jpg"),
            "--out",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1 and f"{fifo}: not a regular file (a FIFO / named pipe)" in p.stderr, p.stderr
    assert {Path(json.loads(line)["source"]).name for line in out.read_text().splitlines()} == {"grace_hopper.jpg"}
