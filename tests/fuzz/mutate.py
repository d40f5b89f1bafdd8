"""Hypothesis strategies for hostile inputs: mutations of real seed bytes (byte flips,
truncation, insertion, deletion, interesting values, format header patches), wrong suffixes,
hostile texts and hostile JSON transcripts.

Every strategy draws a small *recipe* (positions, values) and applies it to the seed's bytes,
so examples stay cheap to draw, shrink to a few edits and print readably when one fails.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

from hypothesis import strategies as st

#: Values that often sit on a decoder's edge (sizes, counts, rates), little-endian 32-bit.
EDGE_U32 = (
    0,
    1,
    2,
    3,
    7,
    8,
    15,
    16,
    255,
    256,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    0x106D,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
)
SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".bmp",
    ".webp",
    ".tif",
    ".wav",
    ".flac",
    ".mp3",
    ".ogg",
    ".m4a",
    ".mp4",
    ".mkv",
    ".avi",
    ".mov",
    ".webm",
    ".txt",
    ".srt",
    ".vtt",
    ".json",
    "",
    ".JPG",
    ".WAV",
    ".Mp4",
)


@dataclass(frozen=True)
class Mutation:
    """One named edit of a byte string (``name`` is the strategy, ``detail`` what it did)."""

    name: str
    detail: tuple

    def apply(self, data: bytes) -> bytes:
        return _APPLY[self.name](data, *self.detail)


def _flip(data: bytes, edits: tuple) -> bytes:
    out = bytearray(data)
    for frac, mask in edits:
        if out:
            out[int(frac * (len(out) - 1))] ^= mask
    return bytes(out)


def _truncate(data: bytes, frac: float) -> bytes:
    return data[: int(frac * len(data))]


def _insert(data: bytes, frac: float, blob: bytes, times: int) -> bytes:
    i = int(frac * len(data))
    return data[:i] + blob * times + data[i:]


def _delete(data: bytes, frac: float, length: int) -> bytes:
    i = int(frac * len(data))
    return data[:i] + data[i + length :]


def _edge(data: bytes, frac: float, value: int, width: int, big: bool) -> bytes:
    i = int(frac * max(0, len(data) - width))
    raw = value.to_bytes(4, "big" if big else "little")
    raw = raw[-width:] if big else raw[:width]
    return data[:i] + raw + data[i + width :]


def _wav_field(data: bytes, field: str, value: int) -> bytes:
    """Patch a field of the WAV ``fmt `` chunk (or a RIFF/data chunk size)."""
    if field in ("riff_size", "data_size"):
        at = 4 if field == "riff_size" else data.find(b"data") + 4
        return data if at < 4 else data[:at] + struct.pack("<I", value) + data[at + 4 :]
    fmt = data.find(b"fmt ")
    if fmt < 0:
        return data
    offset, width = {
        "format": (8, 2),
        "channels": (10, 2),
        "rate": (12, 4),
        "byte_rate": (16, 4),
        "block_align": (20, 2),
        "bits": (22, 2),
    }[field]
    at = fmt + offset
    return data[:at] + (value & (2 ** (8 * width) - 1)).to_bytes(width, "little") + data[at + width :]


def _png_ihdr(data: bytes, field: str, value: int, fix_crc: bool) -> bytes:
    """Patch an IHDR field of a PNG (width, height, bit depth, colour type, interlace), with the
    chunk CRC recomputed (so the decoder believes it) or left stale."""
    at, width = {"width": (16, 4), "height": (20, 4), "depth": (24, 1), "colour": (25, 1), "interlace": (28, 1)}[field]
    if len(data) < 33 or data[12:16] != b"IHDR":
        return data
    out = bytearray(data)
    out[at : at + width] = (value & (2 ** (8 * width) - 1)).to_bytes(width, "big")
    if fix_crc:
        out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
    return bytes(out)


def _jpeg_markers(data: bytes) -> list[int]:
    """Offsets of the JPEG segment markers before the scan data (SOI ... SOS)."""
    marks, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marks.append(i)
        if data[i + 1] == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return marks


def _jpeg(data: bytes, which: int, action: str, value: int) -> bytes:
    """Edit one JPEG marker segment: change its marker code, its length, a SOF field (precision,
    height, width, components), drop it, or drop the end-of-image marker."""
    if action == "drop_eoi":
        return data[:-2] if data.endswith(b"\xff\xd9") else data
    marks = _jpeg_markers(data)
    if not marks:
        return data
    i = marks[which % len(marks)]
    out = bytearray(data)
    if action == "marker":
        out[i + 1] = value & 0xFF
    elif action == "length":
        out[i + 2 : i + 4] = (value & 0xFFFF).to_bytes(2, "big")
    elif action == "sof":
        sofs = [m for m in marks if data[m + 1] in (0xC0, 0xC1, 0xC2)]
        if sofs:
            field = value % 4  # precision, height, width, components
            at, width = sofs[0] + (4, 5, 7, 9)[field], (1, 2, 2, 1)[field]
            out[at : at + width] = (value >> 2 & (2 ** (8 * width) - 1)).to_bytes(width, "big")
    elif action == "drop":
        seg = 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        del out[i : i + seg]
    return bytes(out)


_APPLY = {
    "flip": _flip,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "edge": _edge,
    "wav": _wav_field,
    "png": _png_ihdr,
    "jpeg": _jpeg,
}

_frac = st.floats(0.0, 1.0, allow_nan=False)
_u32 = st.one_of(st.sampled_from(EDGE_U32), st.integers(0, 2**32 - 1))

flips = st.builds(
    lambda e: Mutation("flip", (tuple(e),)), st.lists(st.tuples(_frac, st.integers(1, 255)), min_size=1, max_size=16)
)
truncations = st.builds(lambda f: Mutation("truncate", (f,)), _frac)
insertions = st.builds(
    lambda f, b, n: Mutation("insert", (f, b, n)),
    _frac,
    st.binary(min_size=1, max_size=64),
    st.sampled_from((1, 2, 100, 10_000)),
)
deletions = st.builds(lambda f, n: Mutation("delete", (f, n)), _frac, st.integers(1, 4096))
edges = st.builds(
    lambda f, v, w, b: Mutation("edge", (f, v, w, b)), _frac, _u32, st.sampled_from((1, 2, 4)), st.booleans()
)
wav_patches = st.builds(
    lambda f, v: Mutation("wav", (f, v)),
    st.sampled_from(("format", "channels", "rate", "byte_rate", "block_align", "bits", "riff_size", "data_size")),
    _u32,
)
png_patches = st.builds(
    lambda f, v, c: Mutation("png", (f, v, c)),
    st.sampled_from(("width", "height", "depth", "colour", "interlace")),
    st.one_of(st.sampled_from((0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255, 65535, 1 << 20)), _u32),
    st.booleans(),
)
jpeg_patches = st.builds(
    lambda w, a, v: Mutation("jpeg", (w, a, v)),
    st.integers(0, 15),
    st.sampled_from(("marker", "length", "sof", "drop", "drop_eoi")),
    st.integers(0, 2**18),
)

GENERIC = {"flip": flips, "truncate": truncations, "insert": insertions, "delete": deletions, "edge": edges}
HEADERS = {"wav": {"wav": wav_patches}, "png": {"png": png_patches}, "jpeg": {"jpeg": jpeg_patches}}


def mutations(seed: str) -> st.SearchStrategy[tuple[Mutation, ...]]:
    """One to three edits for the seed named ``seed`` (generic ones, plus its header patches)."""
    pool = {**GENERIC, **HEADERS.get(seed, {})}
    return st.lists(st.one_of(*pool.values()), min_size=1, max_size=3).map(tuple)


def apply_all(data: bytes, edits: tuple[Mutation, ...]) -> bytes:
    for m in edits:
        data = m.apply(data)
    return data


def suffixes(own: str) -> st.SearchStrategy[str]:
    """The seed's own suffix most of the time, a wrong one otherwise."""
    return st.one_of(st.just(own), st.just(own), st.sampled_from(SUFFIXES))


# -- hostile texts --------------------------------------------------------------------------------

HOSTILE_PIECES = (
    "\x00",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "\r",
    "\f",
    "\v",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\ufffd",
    '=HYPERLINK("http://x","y")',
    "=1+2",
    "+1",
    "-1",
    "@SUM(A1)",
    "\ud800",
    "\udfff",
    "\udce9",
    "😀",
    "👩‍👩‍👧",
    "🏳️‍🌈",
    "\U0010ffff",
    "ﷺ",
    "مرحبا",
    "שלום",
    "e\u0301" * 50,
    "I am so happy",
    "This is terrible",
    "\t",
    '"',
    ",",
    ";",
)
HUGE = (1_000, 20_001, 100_000, 1_000_000, 5_000_000)

_piece = st.one_of(
    st.sampled_from(HOSTILE_PIECES), st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
)


@st.composite
def hostile_text(draw) -> str:
    """A text of hostile pieces: control characters, lone surrogates, RTL marks, emoji, NUL,
    formulas, and sometimes one of them repeated to a huge line (up to 5 million characters)."""
    parts = draw(st.lists(_piece, max_size=12))
    if draw(st.integers(0, 9)) == 0:
        piece = draw(_piece | st.just("a")) or "a"
        parts.append(piece * max(1, draw(st.sampled_from(HUGE)) // len(piece)))  # about that many characters
    return "".join(parts)


def encode_text(text: str, how: str) -> bytes:
    """Bytes of ``text`` as written by careless tools: UTF-8 with lone surrogates passed through
    (invalid UTF-8), with a BOM, as UTF-16, or as Latin-1 where it can be."""
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    raw = text.encode("utf-8", "surrogatepass")
    return b"\xef\xbb\xbf" + raw if how == "bom" else raw


ENCODINGS = ("utf-8", "utf-8", "utf-8", "bom", "utf-16", "latin-1")


# -- hostile JSON transcripts --------------------------------------------------------------------------


class Raw(str):
    """A JSON token written as is (``NaN``, ``1e400``, a 5,000-digit integer ...)."""


RAW_NUMBERS = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-0",
    "1e-400",
    "9" * 5000,
    "123456789012345678901234567890",
    "0x10",
    "1_000",
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(RAW_NUMBERS).map(Raw),
    hostile_text(),
)
_json_value = st.recursive(
    _scalar,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
_FIELDS = ("start", "end", "start_ms", "end_ms", "text", "speaker", "segments", "id")
_segment = st.dictionaries(st.sampled_from(_FIELDS), _json_value | st.sampled_from(RAW_NUMBERS).map(Raw), max_size=6)


def dump(value) -> str:
    """JSON text with :class:`Raw` tokens written verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@st.composite
def hostile_json(draw) -> str:
    """A hostile JSON transcript: deep nesting, NaN/Infinity, huge numbers, wrong types, or
    segments with hostile field values (optionally under ``{"segments": ...}``)."""
    shape = draw(st.sampled_from(("deep", "segments", "wrapped", "value", "cut")))
    if shape == "deep":
        n = draw(st.sampled_from((100, 1000, 5000, 100_000)))
        open_, close = draw(st.sampled_from((("[", "]"), ('{"a":', "}"), ('{"segments":', "}"))))
        return open_ * n + draw(st.sampled_from(("1", "[]", "NaN", ""))) + close * n
    if shape == "value":
        return dump(draw(_json_value))
    segments = draw(st.lists(_segment, max_size=5))
    text = dump({"segments": segments} if shape == "wrapped" else segments)
    return text[: draw(st.integers(0, len(text)))] if shape == "cut" else text
