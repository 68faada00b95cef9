"""Loading a program whose weights are 256 MiB of parameters: asyncvm and IREE.

    python bench/parameters.py [--size-mib 256] [--rounds 3] [--driver local-sync]
                               [--cold] [--no-copy-on-write]

Writes, in a temporary directory, an ``.irpa`` of ``--size-mib`` MiB (four
square f32 matrices, by IREE's own archive writer) and compiles (llvm-cpu,
generic CPU) a 4-layer MLP whose matrices are ``#flow.parameter.named``
globals in scope ``model``. Then, each in a fresh subprocess so that their
memory can be compared, asyncvm and IREE's runtime (``iree.runtime``) load
the program with its parameter file and make the first call -- which runs
the initializer that loads the parameters, and reads every weight once. By
default each process first loads and calls a tiny program (with one
parameter of its own), so that what is measured is what a program costs,
not what the first program of a process pays once (imports done lazily,
...); ``--cold`` skips that warm-up. Each side reports:

* load: from nothing loaded to a program ready to call (asyncvm loads
  lazily: its initializers run on the first call);
* first call: the call that loads the parameters and computes;
* added RSS: VmRSS after the first call minus VmRSS before loading (after
  the imports), and the peak (VmHWM) over that baseline.

The file is read once beforehand so both sides find it in the page cache;
the sides alternate for ``--rounds`` rounds and medians are printed, then
the ratios asyncvm / IREE. Targets: load + first call <= 1.5x IREE's, added
RSS <= 1.2x IREE's. Both sides map the file and wrap the 64-byte-aligned
parameters without copying: the RSS each adds is the file's pages that the
first call touches. ``--no-copy-on-write`` shows what asyncvm would add
wrapping the index's read-only views instead of private copy-on-write
mappings: the HAL copies each parameter a dispatch binds (twice the RSS).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

LAYERS = 4
PROGRAM = """
{globals}
func.func @mlp(%x: tensor<{n}xf32>) -> tensor<{n}xf32> {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<{n}xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%empty : tensor<{n}xf32>) -> tensor<{n}xf32>
  %h0 = arith.addf %x, %fill : tensor<{n}xf32>
{layers}
  return %h{last} : tensor<{n}xf32>
}}
"""
LAYER = """  %w{i} = util.global.load @w{i} : tensor<{n}x{n}xf32>
  %m{i} = linalg.matvec ins(%w{i}, %h{i} : tensor<{n}x{n}xf32>, tensor<{n}xf32>) outs(%fill : tensor<{n}xf32>) -> tensor<{n}xf32>
  %h{next} = arith.maximumf %m{i}, %fill : tensor<{n}xf32>"""


def program_text(n: int) -> str:
    globals_ = "\n".join(f'util.global private @w{i} = #flow.parameter.named<"model"::"w{i}"> '
                         f": tensor<{n}x{n}xf32>" for i in range(LAYERS))
    layers = "\n".join(LAYER.format(i=i, n=n, next=i + 1) for i in range(LAYERS))
    return PROGRAM.format(globals=globals_, n=n, layers=layers, last=LAYERS)


WARM_UP = """
util.global private @w = #flow.parameter.named<"model"::"w"> : tensor<4xf32>
func.func @add(%a: tensor<4xf32>) -> tensor<4xf32> {
  %w = util.global.load @w : tensor<4xf32>
  %c = arith.addf %a, %w : tensor<4xf32>
  return %c : tensor<4xf32>
}
"""


def compile_program(text: str) -> bytes:
    from iree.compiler import compile_str

    return compile_str(text, target_backends=["llvm-cpu"],
                       extra_args=["--iree-hal-target-device=local",
                                   "--iree-llvmcpu-target-cpu=generic"])


def prepare(directory: pathlib.Path, size_mib: int) -> tuple[pathlib.Path, pathlib.Path, int]:
    """(the .vmfb, the .irpa, the matrices' size n); also the warm-up program."""
    import iree.runtime as runtime

    n = int(((size_mib << 20) // (LAYERS * 4)) ** 0.5)
    vmfb = directory / "parameters.vmfb"
    vmfb.write_bytes(compile_program(program_text(n)))
    (directory / "warm_up.vmfb").write_bytes(compile_program(WARM_UP))
    warm_up = runtime.ParameterIndex()
    warm_up.add_buffer("w", numpy.ones(4, numpy.float32))
    warm_up.create_archive_file(str(directory / "warm_up.irpa"))
    irpa = directory / "parameters.irpa"
    index = runtime.ParameterIndex()
    random = numpy.random.default_rng(0)
    for i in range(LAYERS):
        weights = random.standard_normal((n, n), dtype=numpy.float32)
        weights *= numpy.float32(1 / numpy.sqrt(n))
        index.add_buffer(f"w{i}", weights)
        del weights
    index.create_archive_file(str(irpa))
    del index
    return vmfb, irpa, n


# -- one side, in its own process -----------------------------------------------------------

def status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Resets VmHWM to the current RSS (Linux >= 4.0), so the peak is this
    side's own."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


def measure_asyncvm(vmfb: str, irpa: str, n: int, driver: str, warm: bool,
                    copy_on_write: bool = True) -> dict:
    import asyncvm
    from asyncvm.hal import HalModule
    from asyncvm.modules.io_parameters import IoParametersModule

    x = numpy.ones(n, numpy.float32)
    if warm:  # another program first: what any first program pays once per process
        vmfb_warm_up, irpa_warm_up = _warm_up(vmfb)
        asyncvm.load(vmfb_warm_up, device=driver, parameters={"model": irpa_warm_up}
                     ).invoke_sync("add", numpy.ones(4, numpy.float32))
    reset_peak()
    rss = status_mib("VmRSS")
    began = time.perf_counter()
    if copy_on_write:
        program = asyncvm.load(vmfb, device=driver, parameters={"model": irpa})
    else:  # the index's read-only views: the HAL copies what a dispatch binds
        index = asyncvm.parameter_index({"model": irpa})
        program = asyncvm.load(vmfb, modules=[
            HalModule([asyncvm.create_device(driver)]),
            IoParametersModule(index, copy_on_write=False)])
    loaded = time.perf_counter()
    result, = program.invoke_sync("mlp", x)
    called = time.perf_counter()
    second = time.perf_counter()
    program.invoke_sync("mlp", x)
    second = time.perf_counter() - second
    return _report(result, rss, began, loaded, called, second)


def measure_iree(vmfb: str, irpa: str, n: int, driver: str, warm: bool) -> dict:
    import iree.runtime as runtime

    x = numpy.ones(n, numpy.float32)
    if warm:
        vmfb_warm_up, irpa_warm_up = _warm_up(vmfb)
        config = runtime.Config(driver)
        index = runtime.ParameterIndex()
        index.load(irpa_warm_up)
        parameters = runtime.create_io_parameters_module(config.vm_instance,
                                                         index.create_provider(scope="model"))
        with open(vmfb_warm_up, "rb") as file:
            module = runtime.VmModule.copy_buffer(config.vm_instance, file.read())
        context = runtime.SystemContext(config=config, vm_modules=[parameters, module])
        getattr(context.modules, module.name)["add"](numpy.ones(4, numpy.float32)).to_host()
    reset_peak()
    rss = status_mib("VmRSS")
    began = time.perf_counter()
    config = runtime.Config(driver)
    index = runtime.ParameterIndex()
    index.load(irpa)
    parameters = runtime.create_io_parameters_module(config.vm_instance,
                                                     index.create_provider(scope="model"))
    with open(vmfb, "rb") as file:
        module = runtime.VmModule.copy_buffer(config.vm_instance, file.read())
    # IREE runs the initializers (the parameter loads) when the context is
    # created: that is part of its first call here, as asyncvm's is.
    loaded = time.perf_counter()
    context = runtime.SystemContext(config=config, vm_modules=[parameters, module])
    mlp = getattr(context.modules, module.name)["mlp"]
    result = mlp(x).to_host()
    called = time.perf_counter()
    second = time.perf_counter()
    mlp(x).to_host()
    second = time.perf_counter() - second
    return _report(result, rss, began, loaded, called, second)


def _warm_up(vmfb: str) -> tuple[str, str]:
    """The warm-up program and its parameter file."""
    directory = pathlib.Path(vmfb).parent
    return str(directory / "warm_up.vmfb"), str(directory / "warm_up.irpa")


def _report(result, rss, began, loaded, called, second) -> dict:
    return {"load": loaded - began, "first_call": called - loaded, "total": called - began,
            "second_call": second, "rss": status_mib("VmRSS") - rss,
            "peak": status_mib("VmHWM") - rss, "checksum": float(numpy.sum(result))}


def run_side(side: str, vmfb, irpa, n: int, driver: str, warm: bool,
             copy_on_write: bool) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--side", side, "--vmfb", str(vmfb), "--irpa", str(irpa),
         "--n", str(n), "--driver", driver] + ([] if warm else ["--cold"])
        + ([] if copy_on_write else ["--no-copy-on-write"]),
        check=True, capture_output=True, text=True).stdout
    return json.loads(output.splitlines()[-1])


# -- the comparison -------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--driver", default="local-sync", choices=["local-sync", "local-task"])
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up program before the measured one: the load then also "
                             "pays each side's once-per-process costs (lazy imports, ...)")
    parser.add_argument("--no-copy-on-write", dest="copy_on_write", action="store_false",
                        help="asyncvm wraps the index's read-only views of the file (a "
                             "dispatch binding one then gets the HAL's private copy) instead "
                             "of private copy-on-write mappings")
    parser.add_argument("--side", choices=["asyncvm", "iree"], help=argparse.SUPPRESS)
    parser.add_argument("--vmfb", help=argparse.SUPPRESS)
    parser.add_argument("--irpa", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.side:
        options = {"copy_on_write": arguments.copy_on_write} if arguments.side == "asyncvm" \
            else {}
        measure = measure_asyncvm if arguments.side == "asyncvm" else measure_iree
        print(json.dumps(measure(arguments.vmfb, arguments.irpa, arguments.n, arguments.driver,
                                 not arguments.cold, **options)))
        return

    with tempfile.TemporaryDirectory(prefix="asyncvm-bench-parameters-") as directory:
        began = time.perf_counter()
        vmfb, irpa, n = prepare(pathlib.Path(directory), arguments.size_mib)
        with open(irpa, "rb") as file:  # into the page cache, for both sides alike
            while file.read(16 << 20):
                pass
        print(f"{irpa.stat().st_size / 2**20:.0f} MiB of parameters ({LAYERS} x {n}x{n} f32), "
              f"driver {arguments.driver}, {'cold' if arguments.cold else 'warm'} processes; "
              f"prepared in {time.perf_counter() - began:.1f} s")
        results = {"asyncvm": [], "iree": []}
        for _ in range(arguments.rounds):
            for side in ("iree", "asyncvm"):
                results[side].append(run_side(side, vmfb, irpa, n, arguments.driver,
                                              not arguments.cold, arguments.copy_on_write))
    checksums = {side: runs[0]["checksum"] for side, runs in results.items()}
    if abs(checksums["asyncvm"] - checksums["iree"]) > 1e-3 * max(1.0, abs(checksums["iree"])):
        raise SystemExit(f"results differ: {checksums}")

    def median(side: str, key: str) -> float:
        return statistics.median(run[key] for run in results[side])

    print(f"{'':12} {'load':>9} {'1st call':>9} {'total':>9} {'2nd call':>9} "
          f"{'+RSS':>10} {'+peak':>10}")
    for side in ("iree", "asyncvm"):
        times = " ".join(f"{median(side, key) * 1e3:7.1f}ms"
                         for key in ("load", "first_call", "total", "second_call"))
        print(f"{side:12} {times} "
              f"{median(side, 'rss'):6.1f} MiB {median(side, 'peak'):6.1f} MiB")
    time_ratio = median("asyncvm", "total") / median("iree", "total")
    rss_ratio = median("asyncvm", "rss") / median("iree", "rss")
    peak_ratio = median("asyncvm", "peak") / median("iree", "peak")
    print(f"asyncvm / IREE: load + first call {time_ratio:.2f}x (target <= 1.5x), "
          f"added RSS {rss_ratio:.2f}x (target <= 1.2x), peak {peak_ratio:.2f}x")


if __name__ == "__main__":
    main()
