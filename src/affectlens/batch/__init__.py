"""Batch analysis of many inputs into Parquet datasets, resumable, on a process pool or Ray.

>>> from affectlens.batch import run_batch                            # doctest: +SKIP
>>> report = run_batch(["videos/", "photos/*.jpg"], "out/", workers=2)  # doctest: +SKIP
>>> pandas.read_parquet("out/faces")                                    # doctest: +SKIP

See :mod:`affectlens.batch.driver` (the run), :mod:`affectlens.batch.task` (one input),
:mod:`affectlens.batch.engines` (``local`` and ``ray``) and :mod:`affectlens.batch.manifest`.
"""

from affectlens.batch.driver import Report, default_workers, run_batch
from affectlens.batch.engines import ENGINES
from affectlens.batch.task import Job, Outcome, Task, run_task

__all__ = ["ENGINES", "Job", "Outcome", "Report", "Task", "default_workers", "run_batch", "run_task"]
