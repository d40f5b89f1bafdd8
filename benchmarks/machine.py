"""What a benchmark ran on, stored beside its numbers (``--write``): the CPU, its cores and the
instruction-set extensions onnxruntime's int8 kernels depend on, and the onnxruntime version.

The extensions decide more than speed: on x86 CPUs without VNNI, onnxruntime's fused uint8 x
int8 kernels saturate 16-bit sums, which 8-bit weights overflow (the shipped int8 models have
7-bit weights for this reason, see the default model's card), so accuracy numbers of int8
models name the CPU too.
"""

from __future__ import annotations

import os
import platform

#: CPU flags worth recording (from /proc/cpuinfo): the vector extensions int8 and float32 kernels use.
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def machine() -> dict:
    """``{"cpu", "cores", "flags", "onnxruntime", "load_average"}`` of this machine, now."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    cpu = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:  # not Linux: the processor name only
        pass
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "flags": [f for f in FLAGS if f in flags],
        "onnxruntime": ort,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
