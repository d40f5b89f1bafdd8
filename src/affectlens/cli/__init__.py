"""Command line: generated from the options tree (:mod:`affectlens.options`) by cyclopts.

Each command parses, then calls :func:`affectlens.cli.drive.drive` (which calls
:func:`affectlens.run` and the writers) or one library function; none of them routes inputs,
applies a modality rule or merges options.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

from affectlens.options import GROUPS, DetectionOptions, FaceOptions, Options, OutputOptions

log = logging.getLogger("affectlens")

app = App(
    name="affectlens",
    help="Offline emotion recognition: facial expressions in photos and videos, voice, text, and their fusion.",
    version_flags=["--version"],
    help_flags=["--help", "-h"],
)

Paths = Annotated[list[str], Parameter(help="Image, audio or video files or folders (searched recursively).")]
ConfigIn = Annotated[Path | None, Parameter(name="--config", group=GROUPS["Run"])]
ConfigOut = Annotated[Path | None, Parameter(name="--save-config", group=GROUPS["Run"])]
Verbose = Annotated[
    bool, Parameter(name=["--verbose", "-v"], negative="", group=GROUPS["Run"], help="More diagnostics on stderr.")
]


def _options(cli: Options, config: Path | None, save: Path | None) -> Options:
    """The run's options: ``--config`` file first, then every flag given on the command line."""
    from affectlens.cli.config import merge_config

    options = merge_config(cli, config) if config else cli
    if save:
        options.save(save)
        log.info("options saved to %s", save)
    return options


@app.command
def analyze(
    paths: Paths,
    /,
    *,
    options: Options = Options(),
    outputs: OutputOptions = OutputOptions(),
    config: ConfigIn = None,
    save_config: ConfigOut = None,
    verbose: Verbose = False,
) -> int:
    """Emotions in photos, videos and audio: face, voice and text, fused per speech segment.

    Examples:

        affectlens analyze photos/ group.jpg --json
        affectlens analyze talk.mp4 --out talk.csv --annotate out/ --timeline talk.png
        affectlens analyze talk.mp4 --modalities face --fps 5 --smooth none
        affectlens analyze talk.wav --transcript talk.srt --out talk.csv

    Parameters
    ----------
    config
        Read the options from a TOML file (flags given here override it).
    save_config
        Write this run's options to a TOML file (repeat the run with --config).
    """
    from affectlens.cli.drive import drive

    return drive(paths, _options(options, config, save_config), outputs)


Json = Annotated[bool, Parameter(negative="", group=GROUPS["Output"], help="Print one JSON object per record line.")]
Out = Annotated[
    str | None,
    Parameter(name="--out", group=GROUPS["Output"], help="Write all records to FILE (.csv, .jsonl or .parquet)."),
]
Quiet = Annotated[
    bool, Parameter(name=["--quiet", "-q"], negative="", group=GROUPS["Output"], help="No table on stdout.")
]


@app.command
def demo(
    *,
    detection: DetectionOptions = DetectionOptions(),
    face: FaceOptions = FaceOptions(),
    json: Json = False,
    out: Out = None,
    annotate: Annotated[
        str | None, Parameter(group=GROUPS["Output"], help="Write the annotated photo into DIR.")
    ] = None,  # noqa: E501
    explain: Annotated[
        str | None, Parameter(group=GROUPS["Output"], help="Write per face a heatmap PNG and a JSON sidecar into DIR.")
    ] = None,  # noqa: E501
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> int:
    """Analyse the bundled demo photo (a public-domain NASA portrait).

    Examples:

        affectlens demo
        affectlens demo --json
    """
    from importlib import resources

    from affectlens.cli.drive import drive

    path = str(resources.files("affectlens") / "data" / "astronaut.jpg")
    log.info("analysing the bundled demo photo %s", path)
    outputs = OutputOptions(json=json, out=out, annotate=annotate, explain=explain, quiet=quiet)
    return drive([path], Options(detection=detection, face=face), outputs)


@app.command
def live(
    source: Annotated[str, Parameter(help="Camera index (0, 1 ...), stream URL or video file.")],
    /,
    *,
    options: Options = Options(),
    json: Annotated[bool, Parameter(negative="")] = False,
    out: str | None = None,
    annotate: str | None = None,
    max_frames: Annotated[int | None, Parameter(name="--max-frames")] = None,
    no_realtime: Annotated[bool, Parameter(name="--no-realtime", negative="")] = False,
    verbose: Verbose = False,
) -> int:
    """Analyse a camera, a stream or a file played as a live stream, one line per frame.

    Examples:

        affectlens live 0
        affectlens live clip.mp4 --no-realtime --json --out clip.csv

    Parameters
    ----------
    json
        Print one JSON object per face per frame (default: one line per frame).
    out
        Also write all records to FILE (.csv, .jsonl or .parquet) at the end.
    annotate
        Record the annotated stream to FILE (.mp4, .mkv ...).
    max_frames
        Stop after N analysed frames.
    no_realtime
        Analyse every frame of a file instead of dropping frames to keep up.
    """
    from affectlens.cli.live import run_live

    return run_live(
        source, options, OutputOptions(json=json, out=out, annotate=annotate), max_frames, realtime=not no_realtime
    )


@app.command
def text(
    texts: Annotated[list[str] | None, Parameter(help="Texts to score.")] = None,
    /,
    *,
    file: Annotated[
        list[str] | None,
        Parameter(
            name="--file", negative_iterable=(), help="A UTF-8 file, one text per line ('-' = stdin); repeatable."
        ),
    ] = None,  # noqa: E501
    transcript: Annotated[
        list[str] | None,
        Parameter(
            name="--transcript",
            negative_iterable=(),
            help="A .srt, .vtt or .json transcript; each segment is scored with its times; repeatable.",
        ),
    ] = None,  # noqa: E501
    model: Annotated[str | None, Parameter(name="--model", help="Text model name (see 'affectlens models').")] = None,  # noqa: E501
    language_check: Annotated[
        bool,
        Parameter(name="--language-check", negative="--no-language-check", help="Refuse confidently non-English text."),
    ] = True,  # noqa: E501
    json: Json = False,
    out: Out = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> int:
    """Emotion of English texts, text files and transcripts (.srt, .vtt, .json).

    Empty texts get the status 'empty', confidently non-English ones 'unsupported language';
    neither gets a label. Transcript segments are scored with the 2 previous segments as
    dialogue context.

    Examples:

        affectlens text "I am so happy" "This is disgusting" --json
        affectlens text --file comments.txt --out comments.csv
        affectlens text --transcript interview.srt --out talk.jsonl
    """
    from affectlens.cli.drive import drive
    from affectlens.jobs.run import Texts, Typed

    if not (texts or file or transcript):
        log.error("error: nothing to score: give TEXT arguments, --file FILE or --transcript FILE")
        return 2
    options = Options().replace(text_model=model, language_check=language_check)
    inputs = (
        ([Texts(tuple(texts))] if texts else [])
        + [Typed(f, "text") for f in file or ()]
        + [Typed(t, "transcript") for t in transcript or ()]
    )
    return drive(inputs, options, OutputOptions(json=json, out=out, quiet=quiet), primary="text")


@app.command
def models(
    *,
    json: Annotated[bool, Parameter(negative="", help="One JSON object per model, every field.")] = False,
    verbose: Verbose = False,
) -> int:
    """List the registered models: kind, labels, headline metric and speed.

    Examples:

        affectlens models
        affectlens models --json
    """
    from affectlens.cli.listing import print_models

    return print_models(json)


def _register_eval_commands() -> None:
    from affectlens.cli import evaluate

    app.command(evaluate.eval_command, name="eval")
    app.command(evaluate.calibrate)
    app.command(evaluate.train)


_register_eval_commands()
app.command("affectlens.cli.serve:serve", name="serve")
app.command("affectlens.cli.batch:batch")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("affectlens: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def _stdin_values(argv: list[str]) -> list[str]:
    """``--file -`` (stdin) as ``--file=-``: the parser would read a lone ``-`` as a flag."""
    out: list[str] = []
    for arg in argv:
        if arg == "-" and out and out[-1] in ("--file", "--transcript"):
            out[-1] = f"{out[-1]}=-"
        else:
            out.append(arg)
    return out


def _stop_on_sigterm() -> None:
    """SIGTERM stops a command like Ctrl-C does: whatever was analysed is written."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    from cyclopts import CycloptsError

    argv = _stdin_values(list(sys.argv[1:] if argv is None else argv))
    _setup_logging(any(a in ("-v", "--verbose") for a in argv))
    _stop_on_sigterm()
    try:
        code = app(argv, exit_on_error=False, print_error=False, help_on_error=False, result_action="return_value")
    except CycloptsError as exc:
        log.error("error: %s", " ".join(str(exc).split()))
        return 2
    except (ValueError, ImportError, LookupError, FileNotFoundError) as exc:
        log.error("error: %s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:  # e.g. piped into head
        return 0
    return int(code or 0)


__all__ = ["app", "main"]
