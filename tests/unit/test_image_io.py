"""Decoding real photos in every mode, and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from affectlens.io.image import InputError, array_to_rgb, load_image
from affectlens.jobs import expand


def test_load_real_photo(photos):
    img = load_image(photos / "astronaut.png")
    assert img.pixels.shape == (512, 512, 3) and img.pixels.dtype == np.uint8


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg: empty file"):
        load_image(p)


def test_text_renamed_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image\n" * 20)
    with pytest.raises(InputError, match=r"notes\.jpg: not a readable image"):
        load_image(p)


def test_truncated_jpeg(photos, tmp_path):
    data = (photos / "grace_hopper.jpg").read_bytes()
    p = tmp_path / "truncated.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.jpg: corrupt or truncated"):
        load_image(p)


def test_corrupt_png(photos, tmp_path):
    data = bytearray((photos / "astronaut.png").read_bytes())
    data[2000:6000] = bytes(4000)  # zero out compressed data inside an IDAT chunk
    p = tmp_path / "corrupt.png"
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"corrupt\.png"):
        load_image(p)


def test_decompression_bomb(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(p)  # 144 Mpx in a few kB
    assert p.stat().st_size < 100_000
    with pytest.raises(InputError, match=r"bomb\.png: .*decompression bomb"):
        load_image(p)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


def test_exif_orientation_is_honoured(photos, tmp_path):
    src = Image.open(photos / "astronaut.png").convert("RGB").crop((0, 0, 512, 400))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    p = tmp_path / "rotated.jpg"
    src.save(p, exif=exif)
    img = load_image(p)
    assert img.pixels.shape == (512, 400, 3)  # displayed portrait, not the stored landscape


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "CMYK"])
def test_modes_decode_to_rgb(photos, tmp_path, mode):
    src = Image.open(photos / "astronaut.png").convert("RGB")
    if mode == "I;16":
        arr = np.asarray(src.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(arr)
        assert img.mode.startswith("I;16")
        suffix = ".png"
    else:
        img = src.convert(mode)
        suffix = ".tif" if mode == "CMYK" else ".png"
    p = tmp_path / f"img{suffix}"
    img.save(p)
    out = load_image(p)
    assert out.pixels.shape == (512, 512, 3) and out.pixels.dtype == np.uint8
    grey = np.asarray(src.convert("L"), dtype=np.float64)
    # whatever the mode, the image content survives (correlation with the original's luminance)
    assert np.corrcoef(out.pixels.mean(axis=2).ravel(), grey.ravel())[0, 1] > 0.95


def test_array_inputs():
    grey = np.zeros((10, 12), np.uint8)
    assert array_to_rgb(grey).shape == (10, 12, 3)
    assert array_to_rgb(np.ones((4, 4, 4), np.uint16) * 65535).max() == 255
    assert array_to_rgb(np.full((4, 4, 3), 0.5)).max() == 128
    with pytest.raises(InputError, match="shape"):
        array_to_rgb(np.zeros((4, 4, 2), np.uint8))


def test_find_inputs_recurses_and_reports_missing(photos, tmp_path):
    *found, missing = list(expand([photos, tmp_path / "gone.png"]))
    assert len(found) == 5 and all(f.startswith(str(photos)) for f in found)
    assert str(missing) == f"{tmp_path / 'gone.png'}: no such file or folder"
