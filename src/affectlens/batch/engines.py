"""Where batch tasks run: ``local`` (a process pool) or ``ray`` (Ray actors). No scheduler here.

Both engines hold at most one task per worker in flight and give the driver back, per finished
task, its :class:`~affectlens.batch.task.Outcome` or the exception that ended it (a task error,
or a worker that died); the driver decides on retries.

- ``local``: :class:`concurrent.futures.ProcessPoolExecutor`; its initializer builds one
  :class:`~affectlens.jobs.Runner` per worker process (models load once per worker). A worker
  that dies breaks the pool (``BrokenProcessPool`` on every task in flight): the pool is made
  anew and the driver resubmits those tasks.
- ``ray``: one actor per worker, each holding a Runner; actors are restarted by Ray when they
  die (``max_restarts=-1``) and the task that was running is handed back as failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from affectlens.batch.task import Job, Outcome, Task, run_task

log = logging.getLogger("affectlens")

ENGINES = ("local", "ray")
RAY_HINT = "the ray engine needs the [ray] extra: pip install 'affectlens[ray]'"

# -- local -------------------------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(options_dict: dict, job: Job) -> None:
    """Pool initializer: one Runner per worker process; Ctrl-C is the driver's to handle."""
    from affectlens.jobs import Runner
    from affectlens.options import Options

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the driver's SIGTERM handler is not the worker's
    _WORKER["runner"] = Runner(Options.from_dict(options_dict))
    _WORKER["job"] = job


def _local_task(task: Task) -> Outcome:
    return run_task(_WORKER["runner"], _WORKER["job"], task)


def _context():
    """spawn: a worker forked from a process that has already run the models (onnxruntime's
    threads) can hang, and ``run_batch`` may be called from such a process;
    a fresh interpreter per worker costs its imports once."""
    return multiprocessing.get_context("spawn")


class LocalEngine:
    """A process pool of ``workers`` processes, each with its own Runner."""

    def __init__(self, workers: int, options_dict: dict, job: Job):
        self.workers = workers
        self._args = (options_dict, job)
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0

    @property
    def capacity(self) -> int:
        return self.workers

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=_context(), initializer=_init_worker, initargs=self._args
            )
        return self._pool

    def submit(self, task: Task):
        return self._ensure().submit(_local_task, task)

    def wait(self, handles) -> list[tuple[object, Outcome | BaseException]]:
        """Block until at least one task ends; ``(handle, outcome or exception)`` of each ended."""
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            # every task in flight belongs to the broken pool: collect them all before a new one starts
            log.warning("a batch worker process died: starting a new pool and retrying its inputs")
            done, _ = wait(handles)
            self._drop(kill=True)
            self.restarts += 1
        return [(f, f.exception() or f.result()) for f in done]

    def _drop(self, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:  # Ctrl-C or a broken pool: do not wait for tasks still running
            for proc in list((pool._processes or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self, interrupted: bool = False) -> None:
        self._drop(kill=interrupted)


# -- ray ---------------------------------------------------------------------------------------
def import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_HINT) from None
    return ray


class _RayWorker:
    """A Ray actor holding one Runner (models load once per actor)."""

    def __init__(self, options_dict: dict, job: Job):
        from affectlens.jobs import Runner
        from affectlens.options import Options

        self.runner = Runner(Options.from_dict(options_dict))
        self.job = job

    def run(self, task: Task) -> Outcome:
        return run_task(self.runner, self.job, task)


class RayEngine:
    """``workers`` Ray actors (``ray.init()`` locally, or the cluster at ``address``)."""

    def __init__(self, workers: int, options_dict: dict, job: Job, address: str | None = None):
        ray = self.ray = import_ray()
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": max(workers, os.cpu_count() or 1)}
            ray.init(include_dashboard=False, log_to_driver=True, **kwargs)
            self._own = True
        else:
            self._own = False
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)(_RayWorker)
        self.actors = [actor.remote(options_dict, job) for _ in range(workers)]
        self.busy: dict = {}  # ref -> actor index
        self.restarts = 0

    @property
    def capacity(self) -> int:
        return len(self.actors)

    def submit(self, task: Task):
        free = next(i for i in range(len(self.actors)) if i not in self.busy.values())
        ref = self.actors[free].run.remote(task)
        self.busy[ref] = free
        return ref

    def wait(self, handles) -> list[tuple[object, Outcome | BaseException]]:
        ray = self.ray
        ready, _ = ray.wait(list(handles), num_returns=1)
        out = []
        for ref in ready:
            self.busy.pop(ref, None)
            try:
                out.append((ref, ray.get(ref)))
            except ray.exceptions.RayActorError as exc:
                log.warning("a batch worker (Ray actor) died: Ray restarts it; retrying its input")
                self.restarts += 1
                out.append((ref, RuntimeError(f"worker died: {type(exc).__name__}")))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                out.append((ref, cause))
        return out

    def close(self, interrupted: bool = False) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self._own:
            self.ray.shutdown()


def make_engine(name: str, workers: int, options_dict: dict, job: Job, address: str | None = None):
    if name == "local":
        if address:
            raise ValueError("--ray-address needs --engine ray")
        return LocalEngine(workers, options_dict, job)
    if name == "ray":
        return RayEngine(workers, options_dict, job, address)
    raise ValueError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "LocalEngine", "RAY_HINT", "RayEngine", "import_ray", "make_engine"]
