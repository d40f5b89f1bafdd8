"""``affectlens live``: the video running mode on a camera, stream or file, one line per frame."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

from affectlens.export.writers import Writers
from affectlens.options import Options, OutputOptions

log = logging.getLogger("affectlens")


def frame_line(result) -> str:
    faces = "  ".join(f"#{f.track} {f.expression.top} {f.expression.top_prob:.2f}" for f in result.faces)
    return f"{result.time_ms / 1000:8.2f} s  {faces or '(no face)'}\n"


def run_live(
    source: str, options: Options, outputs: OutputOptions, max_frames: int | None, realtime: bool = True
) -> int:
    from affectlens.cli.drive import check_outputs
    from affectlens.export.video import frame_records
    from affectlens.io.video import VideoError
    from affectlens.pipeline.video import VideoRun

    check_outputs(outputs)
    options = dataclasses.replace(options, video=dataclasses.replace(options.video, live=realtime))
    try:
        video = VideoRun(source, options)
    except VideoError as exc:
        log.error("error: %s", exc)
        return 1
    # the writers keep tables and the annotated video; frame lines are printed here
    writers = Writers(dataclasses.replace(outputs, json=False, quiet=True), start_ms=0.0)
    status, n = 0, 0
    try:
        for n, (vf, result) in enumerate(video.pairs(), start=1):
            writers.add(dataclasses.replace(result, pixels=vf.rgb) if outputs.annotate else result)
            sys.stdout.write(
                "".join(json.dumps(r) + "\n" for r in frame_records(result)) if outputs.json else frame_line(result)
            )
            sys.stdout.flush()
            if max_frames and n >= max_frames:
                break
    except KeyboardInterrupt:
        log.error("interrupted: writing the %d frame(s) analysed so far", n)
        status = 1
    finally:
        video.close()
        writers.close()
    if video.stopped:
        log.error("error: %s: %s", video.source, video.stopped)
    return 1 if status or video.stopped else 0
