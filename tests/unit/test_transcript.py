"""Transcript parsing: .srt, .vtt and both .json layouts into segments; each malformed case an error."""

from __future__ import annotations

import json

import pytest

from affectlens.io.transcript import Segment, TranscriptError, read_transcript

SRT = """1
00:00:01,000 --> 00:00:03,500
I can't believe you did that!

2
00:00:04,250 --> 00:00:06,000
<i>That's wonderful news,</i>
thank you so much.
"""

VTT = """WEBVTT

00:00:01.000 --> 00:00:03.500
<v Alice>I can't believe you did that!

intro-2
00:01:04.250 --> 00:01:06.000
That's wonderful news,
thank you so much.
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_srt(tmp_path):
    segs = read_transcript(_write(tmp_path, "a.srt", SRT))
    assert segs == [
        Segment(0, 1000, 3500, "I can't believe you did that!"),
        Segment(1, 4250, 6000, "That's wonderful news, thank you so much."),
    ]
    assert segs[1].duration_ms == 1750


def test_vtt_with_voice(tmp_path):
    segs = read_transcript(_write(tmp_path, "a.vtt", VTT))
    assert segs == [
        Segment(0, 1000, 3500, "I can't believe you did that!", "Alice"),
        Segment(1, 64250, 66000, "That's wonderful news, thank you so much."),
    ]


def test_json_list_in_milliseconds(tmp_path):
    data = [
        {"start_ms": 0, "end_ms": 1800, "text": "Hi!", "speaker": "A"},
        {"start_ms": 1800, "end_ms": 2500, "text": " Bye. "},
    ]
    segs = read_transcript(_write(tmp_path, "t.json", json.dumps(data)))
    assert segs == [Segment(0, 0, 1800, "Hi!", "A"), Segment(1, 1800, 2500, "Bye.")]


def test_whisper_json_in_seconds(tmp_path):
    data = {
        "text": "Hi! Bye.",
        "language": "en",
        "segments": [
            {"id": 0, "start": 0.0, "end": 1.84, "text": " Hi!"},
            {"id": 1, "start": 1.84, "end": 2.5, "text": " Bye."},
        ],
    }
    segs = read_transcript(_write(tmp_path, "w.json", json.dumps(data)))
    assert [(s.start_ms, s.end_ms, s.text) for s in segs] == [(0, 1840, "Hi!"), (1840, 2500, "Bye.")]


@pytest.mark.parametrize(
    "name,text,reason",
    [
        ("empty.srt", "", "empty transcript"),
        ("blank.vtt", "  \n\n", "empty transcript"),
        ("nocues.vtt", "WEBVTT\n\n", "empty transcript"),
        ("empty.json", "[]", "empty transcript"),
        ("bad.srt", "garbage\nnot a subtitle\n", "malformed srt file"),
        ("badcue.srt", SRT + "\n3\n00:00:07,000 --> 00:00:xx\nbroken\n", "malformed srt file"),
        ("bad.vtt", "not a webvtt file\n", "malformed vtt file"),
        ("badcue.vtt", VTT + "\n00:02:00.000 --> 00:0x:01.000\nbroken\n", "1 of 3 cues have a bad timing line"),
        ("bad.json", "{not json", "not valid JSON"),
        ("obj.json", '{"a": 1}', "expected a list of segments"),
        ("notext.json", '[{"start": 0, "end": 1}]', "segment 1: missing 'text'"),
        ("notime.json", '[{"text": "hi"}]', "segment 1: missing 'start_ms'"),
        ("strtime.json", '[{"start": "0", "end": 1, "text": "hi"}]', "'start' must be a number"),
        ("backwards.json", '[{"start_ms": 500, "end_ms": 100, "text": "hi"}]', "bad times"),
        ("nottext.json", '[{"start_ms": 0, "end_ms": 100, "text": 5}]', "'text' must be a string"),
        ("notes.txt", "hello", "unsupported transcript format .txt"),
    ],
)
def test_bad_transcripts_name_file_and_reason(tmp_path, name, text, reason):
    path = _write(tmp_path, name, text)
    with pytest.raises(TranscriptError) as info:
        read_transcript(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(TranscriptError, match="no such file"):
        read_transcript(tmp_path / "missing.srt")
    path = tmp_path / "bin.vtt"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(TranscriptError, match="not UTF-8 text"):
        read_transcript(path)
