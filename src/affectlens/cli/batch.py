"""``affectlens batch``: many inputs into Parquet datasets, resumable (see :mod:`affectlens.batch`)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import Parameter

log = logging.getLogger("affectlens")

Inputs = Annotated[
    list[str],
    Parameter(
        help="Files, folders (searched recursively), glob patterns (quoted), "
        "or manifests (.csv/.parquet with a 'path' column)."
    ),
]


def batch(
    inputs: Inputs,
    /,
    *,
    out: Annotated[Path, Parameter(name="--out")],
    engine: Literal["local", "ray"] = "local",
    workers: int | None = None,
    ray_address: Annotated[str | None, Parameter(name="--ray-address")] = None,
    config: Annotated[Path | None, Parameter(name="--config")] = None,
    progress: Literal["bar", "json"] = "bar",
    retries: int = 2,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
) -> int:
    """Analyse thousands of inputs into Parquet tables under DIR; run it again to resume.

    Writes DIR/faces/, DIR/segments/ and DIR/text/ (one Parquet part per input; read each back
    with pandas.read_parquet("DIR/faces")), the manifest DIR/runs.sqlite (+ runs.parquet) and
    DIR/report.json. Inputs already done with the same bytes and options are skipped.

    Examples:

        affectlens batch videos/ --out results/ --workers 4
        affectlens batch "photos/**/*.jpg" --out results/ --progress json
        affectlens batch corpus.csv --out results/ --config run.toml --engine ray --ray-address auto

    Parameters
    ----------
    out
        Output folder (created; one folder per options tree).
    engine
        local: a process pool on this machine; ray: Ray actors (pip install 'affectlens[ray]').
    workers
        Worker processes or Ray actors, each with its own models (default: one per core).
    ray_address
        Ray cluster to join (default: start Ray on this machine).
    config
        Options of the analysis, from a TOML file ('affectlens analyze --save-config' writes one).
    progress
        bar: a progress bar on a terminal; json: one JSON line per finished input on stdout.
    retries
        Retries of an input whose task raised or whose worker died.
    """
    from affectlens.batch import run_batch
    from affectlens.options import Options

    options = Options.load(config) if config else Options()
    show = _JsonLines() if progress == "json" else _Bar()
    try:  # SIGTERM, like Ctrl-C, is a KeyboardInterrupt (cli.main): run_batch keeps what is finished
        report = run_batch(
            inputs,
            out,
            options,
            engine=engine,
            workers=workers,
            retries=retries,
            ray_address=ray_address,
            progress=show,
        )
    finally:
        show.close()
    _log_report(report)
    if report.interrupted:
        return 130
    return 1 if report.failed or report.incomplete else 0


class _JsonLines:
    def __call__(self, event: dict) -> None:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class _Bar:
    """Inputs done of the inputs to do, frames/s, failures and ETA, on a terminal only."""

    def __init__(self):
        self.bar = None

    def __call__(self, event: dict) -> None:
        if not sys.stderr.isatty():
            return
        from tqdm.auto import tqdm

        if event["event"] == "start":
            self.bar = tqdm(total=event["to_do"], unit="input", desc="batch", smoothing=0.05)
        elif event["event"] == "input" and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(frames_s=event["frames_per_s"], failed=event["failed"], refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _log_report(report) -> None:
    d = report.to_dict()
    log.info(
        "batch: %d input(s): %d done, %d incomplete, %d failed, %d skipped (done before), %d not run; "
        "%d rows, %d frames in %.1f s (%.2f inputs/s, %.1f frames/s; %d worker(s), %s engine)",
        report.total,
        report.done,
        report.incomplete,
        report.failed,
        report.skipped,
        report.not_run,
        report.rows,
        report.frames,
        d["seconds"],
        d["inputs_per_s"],
        d["frames_per_s"],
        report.workers,
        report.engine,
    )
    for _path, reason in report.failures[:20]:
        log.info("  %s", reason)
    if len(report.failures) > 20:
        log.info("  ... %d more in %s", len(report.failures) - 20, Path(report.out) / "report.json")
