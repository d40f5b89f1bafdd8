"""The one place onnxruntime sessions are made: :func:`onnx_session`.

Every ONNX model of the package (face detector, expression, face mesh, speech, voice activity
detection, and the checks of the training exports) gets its session here, so they all share one
setting: CPU only, ``threads`` intra-op threads, sequential execution, all graph optimisations,
warnings only, and no busy-waiting between runs. On a small CPU a spinning thread pool steals
the cores that the other models and pipeline threads need next.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

#: Threads of :func:`shared_pool`: the cores of the small machines this package aims at.
POOL_THREADS = 2
_POOL: list = []
_POOL_LOCK = threading.Lock()

#: Session config entries that stop the thread pools from spinning while they wait for work.
NO_SPIN = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def session_options(threads: int = 1):
    """The ``onnxruntime.SessionOptions`` every affectlens session uses (see the module docstring)."""
    import onnxruntime as ort

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"onnxruntime threads must be an integer >= 1, got {threads!r}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    for key, value in NO_SPIN.items():
        opts.add_session_config_entry(key, value)
    return opts


def onnx_session(path: str | Path | bytes, threads: int = 1):
    """An ``onnxruntime.InferenceSession`` on the CPU for the ONNX file ``path`` (or a serialized
    model given as bytes)."""
    import onnxruntime as ort

    opts = session_options(threads)
    if not isinstance(path, bytes):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ONNX file not found")
        path = str(path)
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def shared_pool():
    """This process's pool of :data:`POOL_THREADS` threads for splitting one image's work (the
    detector's tiles of a large photo, the meshes of a group photo): onnxruntime, the detector
    and Pillow release the GIL. Made on first use, and again in a forked child (whose copy of the
    parent's pool has no threads). Tasks given to it must not wait on other tasks of it."""
    with _POOL_LOCK:
        if not _POOL or _POOL[0][0] != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            _POOL[:] = [(os.getpid(), ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="affectlens-pool"))]
        return _POOL[0][1]
