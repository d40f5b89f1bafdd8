"""Peak resident memory of long inputs: voice analysis of a long audio file (default 1 hour).

The audio is assembled from real RAVDESS speech clips (../shared/datasets/ravdess) separated by
1 s of silence, repeated to the requested length, and written as a 16 kHz 16-bit mono WAV in a
temporary folder (written in chunks, never held whole). Each measurement runs
``analyze_audio_results`` in a fresh Python process and reports that process's peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), its wall time and the number of
segments, so the numbers are the analysis alone. ``--src [LABEL=]PATH`` measures another source
tree (e.g. ``before=/tmp/old/src``, from ``git archive <commit> src``) with the same file, for
before/after comparisons.

    python benchmarks/memory.py [--minutes 60] [--src [LABEL=]PATH ...] [--write]

Prints a table; with ``--write`` also writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "datasets" / "ravdess"
RATE = 16000

#: Runs in the child process: analyse, then print peak RSS (MB), seconds and segment count as JSON.
CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from affectlens.pipeline.speech import analyze_audio_results
results = analyze_audio_results(sys.argv[1])
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
nan = sum(1 for r in results if r.voice is not None and any(p != p for p in r.voice.probs))
print(json.dumps({"peak_mb": round(peak_mb, 1), "seconds": round(seconds, 1), "segments": len(results),
                  "nan_segments": nan}))
"""


def speech_clips(limit: int = 48) -> list[np.ndarray]:
    """Real RAVDESS utterances (16 kHz mono float32), one per file, from several actors."""
    from affectlens.io.audio import load_audio

    files = sorted(RAVDESS.glob("Actor_*/*.flac"))
    if not files:
        raise FileNotFoundError(f"no RAVDESS clips under {RAVDESS} (see ../shared/datasets/README.md)")
    step = max(1, len(files) // limit)
    return [load_audio(f).samples for f in files[::step][:limit]]


def write_long_wav(path: Path, minutes: float) -> float:
    """A WAV of ``minutes`` of speech clips and 1 s pauses, written chunk by chunk; its seconds."""
    import av

    clips, pause = speech_clips(), np.zeros(RATE, np.float32)
    total, target, i = 0, int(minutes * 60 * RATE), 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        while total < target:
            chunk = np.concatenate([clips[i % len(clips)], pause])[: target - total]
            frame = av.AudioFrame.from_ndarray(
                (chunk * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = RATE
            for pkt in stream.encode(frame):
                out.mux(pkt)
            total += len(chunk)
            i += 1
        for pkt in stream.encode(None):
            out.mux(pkt)
    return total / RATE


def measure(src: Path, audio: Path) -> dict:
    """Peak RSS, time and segments of one fresh process analysing ``audio`` with the code in ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    run = subprocess.run([sys.executable, "-c", CHILD, str(audio)], capture_output=True, text=True, env=env)
    if run.returncode:
        tail = run.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"error": tail[0]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def _source(spec: str) -> tuple[str, Path]:
    """``LABEL=PATH`` or ``PATH`` → (label, resolved path)."""
    label, _, path = spec.rpartition("=")
    return (label or path), Path(path).resolve()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the synthetic audio (default 60)")
    ap.add_argument(
        "--src",
        action="append",
        default=None,
        metavar="[LABEL=]PATH",
        help="source tree(s) to measure (default: this checkout's src); repeatable",
    )
    ap.add_argument("--write", action="store_true", help="also write benchmarks/results/memory.json")
    args = ap.parse_args()
    sources = [_source(spec) for spec in (args.src or [f"this checkout={ROOT / 'src'}"])]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / f"speech_{args.minutes:g}min.wav"
        seconds = write_long_wav(audio, args.minutes)
        size_mb = audio.stat().st_size / 2**20
        for label, src in sources:
            rows.append(
                {"src": label, "audio_s": round(seconds, 1), "file_mb": round(size_mb, 1), **measure(src, audio)}
            )
    print(f"{'source tree':<40}{'audio':>9}{'file MB':>9}{'peak RSS MB':>13}{'seconds':>9}{'segments':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['src'][-40:]:<40}  error: {r['error']}")
            continue
        print(
            f"{r['src'][-40:]:<40}{r['audio_s'] / 60:>8.1f}m{r['file_mb']:>9.1f}{r['peak_mb']:>13.1f}"
            f"{r['seconds']:>9.1f}{r['segments']:>10}"
        )
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "memory.json").write_text(json.dumps({"audio_minutes": args.minutes, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
