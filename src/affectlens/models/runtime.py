"""The one place onnxruntime sessions are made: :func:`onnx_session`.

Every ONNX model of the package (expression, speech, voice activity detection, and the checks
of the training exports) gets its session here, so they all share one setting: CPU only,
``threads`` intra-op threads, sequential execution, all graph optimisations, warnings only, and
no busy-waiting between runs. On a small CPU a spinning thread pool steals the cores that the
face detector (OpenMP) and the other pipeline threads need next.
"""

from __future__ import annotations

from pathlib import Path

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
