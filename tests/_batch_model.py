"""What several tests share about tests/programs/batch_model.mlir: how it is
compiled for native kernels, the weights its ``predict`` carries, and a way
to keep each concurrent call's outcome (its results or its VMError)."""

from __future__ import annotations

import numpy

from asyncvm.vm import VMError

LLVM_CPU = ("--iree-hal-local-target-device-backends=llvm-cpu",
            "--iree-llvmcpu-target-cpu=generic")

WEIGHTS = numpy.array([[0.5, -1.0, 0.25, 2.0], [1.0, 0.0, -0.5, 0.125],
                       [-0.75, 0.5, 1.5, -2.0], [0.0, 1.0, 1.0, 0.5],
                       [2.0, -0.25, 0.0, 1.0], [-1.0, 0.75, 0.5, 0.0],
                       [0.125, 0.0, -1.0, 1.5], [1.0, 1.0, 1.0, -1.0]], numpy.float32)


async def record_outcome(outcomes: dict, tag: str, call) -> None:
    """Awaits ``call()`` and stores its results, or the VMError it raised, under ``tag``."""
    try:
        outcomes[tag] = await call()
    except VMError as error:
        outcomes[tag] = error
