"""The job layer: :func:`probe` says what an input is, :func:`run` analyses inputs into typed
results. The CLI, the Python conveniences, the service and the batch engine all call it."""

from affectlens.jobs.probe import KINDS, MediaInfo, expand, probe
from affectlens.jobs.run import Progress, Result, Runner, Texts, plan, run

__all__ = ["KINDS", "MediaInfo", "Progress", "Result", "Runner", "Texts", "expand", "plan", "probe", "run"]
