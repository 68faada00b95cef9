"""A program that calls a native kernel: a tvm-ffi C++ library as a module.

    pip install -e ".[test]" && python examples/native_module.py [--trio]

Builds native_kernels.cc with tvm-ffi (the system C++ compiler) into
``kernels.so``, compiles native_module.mlir for the local CPU (llvm-cpu),
and runs ``classify`` — a matmul compiled by IREE, then the library's
``softmax`` — for 16 batches at once on one event loop. The library's calls
run on worker threads, so they never stall the loop. The same from the
command line:

    asyncvm run --module=kernels.so --module=classify.vmfb --function=classify \\
        --input=2x4xf32=1,2,3,4,5,6,7,8 --input=4x3xf32=0.1
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent


def build(directory: pathlib.Path) -> tuple[pathlib.Path, bytes]:
    """(the library, named kernels.so, and the compiled program)."""
    import tvm_ffi.cpp
    from iree.compiler import compile_file

    built = tvm_ffi.cpp.build("kernels", sources=[str(HERE / "native_kernels.cc")],
                              build_directory=str(directory / "build"),
                              extra_cflags=["-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1"])
    library = directory / "kernels.so"  # the module is named after the file
    shutil.copyfile(built, library)
    program = compile_file(str(HERE / "native_module.mlir"), target_backends=["llvm-cpu"],
                           extra_args=["--iree-hal-target-device=local",
                                       "--iree-llvmcpu-target-cpu=host"])
    return library, program


def reference(x: numpy.ndarray, w: numpy.ndarray) -> numpy.ndarray:
    logits = x @ w
    exponentials = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


async def main(program: asyncvm.Program) -> None:
    generator = numpy.random.default_rng(0)
    w = generator.standard_normal((4, 3)).astype(numpy.float32)
    batches = [generator.standard_normal((1 + index % 5, 4)).astype(numpy.float32)
               for index in range(16)]
    results: dict[int, numpy.ndarray] = {}

    async def classify(index: int) -> None:
        (results[index],) = await program.classify(batches[index], w)

    async with anyio.create_task_group() as group:
        for index in range(len(batches)):
            group.start_soon(classify, index)
    error = max(float(numpy.abs(results[index] - reference(x, w)).max())
                for index, x in enumerate(batches))
    print(f"classified {sum(len(x) for x in batches)} rows in {len(batches)} concurrent calls")
    print("first row:", " ".join(f"{value:.4f}" for value in results[0][0]))
    print(f"largest difference from numpy: {error:.1e}")
    if error > 1e-5:
        raise SystemExit("the answers differ from numpy")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        library, data = build(pathlib.Path(scratch))
        program = asyncvm.load(data, modules=[library])
        print(program.classify)
        anyio.run(main, program, backend="trio" if "--trio" in sys.argv[1:] else "asyncio")
