"""Time of IREE's e2e op programs: asyncvm vs iree.runtime, call by call.

    python bench/conformance.py [--device local-sync|local-task] [--rounds N]
                                [--backend vmvx|llvm-cpu] [--program NAME] [--functions]

Compiles the programs of tests/hal/test_e2e_ops.py (tests/programs/e2e_*.mlir)
for VMVX and for llvm-cpu (generic x86-64; asyncvm runs those on a device that
loads native kernels only, as the tests do), then for every function, in this
one process: a warm-up call in each runtime, then ``--rounds`` timed calls
(the median counts), checking asyncvm's answers against iree.runtime's as it
goes (bit for bit, or within the tests' tolerance for VMVX transcendentals).
Prints per-program times and the total-time ratio asyncvm / iree.runtime for
VMVX and llvm-cpu separately; then any answer that differs, tagged with its
bug class when the tests know it (exit status 1 if any is not known).

Both runtimes get numpy inputs and give numpy results (IREE's ``to_host()``
is part of its call); asyncvm gets a fresh 64-byte-aligned copy of the inputs
for every call (made outside the timing), since some programs write their
arguments in place. Calls that fail in both runtimes (with the same status),
and calls with packed sub-byte tensors (iree.runtime's Python API has no
mapping for them), are checked but not timed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import anyio
import numpy

import asyncvm

HERE = pathlib.Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "hal")]

import test_e2e_ops as e2e  # noqa: E402  (programs, inputs and comparison of the tests)

HOST_FLAGS = ("--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx")


def iree_compile_exe() -> str:
    from iree.compiler.tools.binaries import find_tool

    return find_tool("iree-compile")


def compile_build(exe: str, program: str, backend: str, out_dir: pathlib.Path) -> pathlib.Path:
    source = e2e.PROGRAMS_DIR / e2e.PROGRAMS[program][0]
    out = out_dir / f"{program}-{backend}.vmfb"
    command = [exe, *HOST_FLAGS, *e2e.build_flags(program, backend), str(source), "-o", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"iree-compile failed: {' '.join(command)}\n{proc.stderr[-4000:]}")
    return out


class IreeProgram:
    def __init__(self, vmfb: pathlib.Path, device: str):
        import iree.runtime as runtime

        config = runtime.Config(device)
        module = runtime.VmModule.copy_buffer(config.vm_instance, vmfb.read_bytes())
        self.context = runtime.SystemContext(config=config, vm_modules=[module])
        self.functions = getattr(self.context.modules, module.name)

    def call(self, name: str, arguments):
        results = self.functions[name](*arguments)
        results = results if isinstance(results, (list, tuple)) else [results]
        return [r.to_host() if hasattr(r, "to_host") else numpy.asarray(r) for r in results]


class Untimed(float):
    """No time: iree.runtime's Python API cannot take or give this call's
    packed sub-byte (i4, i2) tensors. Its answer comes from the tests'
    low-level path (tests/_iree_reference.py), which is not comparable in time."""


def time_iree(program: IreeProgram, name: str, arguments, vmfb: pathlib.Path, device: str,
              rounds: int):
    """(median seconds, results), (Untimed(), results) or (None, the
    exception IREE raised)."""
    try:
        results = program.call(name, arguments)  # warm-up
    except Exception as error:
        if "dtype" not in str(error):
            return None, error
        from _iree_reference import iree_tensor_results

        try:
            return Untimed(), iree_tensor_results(vmfb, name, arguments, driver=device)
        except Exception as error:
            return None, error
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        results = program.call(name, arguments)
        times.append(time.perf_counter() - began)
    return statistics.median(times), results


async def time_asyncvm(program, name: str, arguments, rounds: int):
    """(median seconds, results) or (None, the VMError asyncvm raised)."""
    try:
        results = await program.invoke(name, *[asyncvm.aligned_array(a) for a in arguments])
    except asyncvm.VMError as error:
        return None, error
    times = []
    for _ in range(rounds):
        copies = [asyncvm.aligned_array(a) for a in arguments]
        began = time.perf_counter()
        results = await program.invoke(name, *copies)
        times.append(time.perf_counter() - began)
    return statistics.median(times), results


def run_build(program_name: str, backend: str, vmfb: pathlib.Path, device: str, rounds: int,
              report=lambda case, iree_seconds, our_seconds: None):
    """Times every case of one build; returns (iree seconds, asyncvm seconds,
    timed cases, problems, cases checked but not timed). ``report(case,
    iree seconds, asyncvm seconds)`` is called for each timed case."""
    iree = IreeProgram(vmfb, device)
    ours = e2e.load(vmfb, backend, device)
    totals = [0.0, 0.0, 0]
    problems = []
    untimed = []

    async def main():
        for case, arguments in e2e.INPUTS[program_name].items():
            name = e2e.function_name(case)
            iree_seconds, expected = time_iree(iree, name, arguments, vmfb, device, rounds)
            our_seconds, actual = await time_asyncvm(ours, name, arguments, rounds)
            known = e2e.known_failure(program_name, backend, case)
            tag = " (known: " + known.split(":")[0] + ")" if known else ""
            if iree_seconds is None or our_seconds is None:
                both_fail_alike = (iree_seconds is None and our_seconds is None
                                   and actual.status == e2e.iree_status(expected))
                if not both_fail_alike:
                    problems.append(f"{case}: asyncvm {str(actual)[:200]!r}, "
                                    f"IREE {str(expected)[:200]!r}{tag}")
                continue  # a call that fails is not timed
            difference = e2e.compare(actual, expected, e2e.tolerance(program_name, backend, case))
            if difference is not None:
                problems.append(f"{case}: {difference}{tag}")
            if isinstance(iree_seconds, Untimed):
                untimed.append(case)
                continue
            report(case, iree_seconds, our_seconds)
            totals[0] += iree_seconds
            totals[1] += our_seconds
            totals[2] += 1

    anyio.run(main)
    return totals[0], totals[1], totals[2], problems, untimed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="local-sync", choices=["local-sync", "local-task"])
    parser.add_argument("--rounds", type=int, default=1, help="timed calls per function (median)")
    parser.add_argument("--functions", action="store_true", help="print every function's times")
    parser.add_argument("--backend", choices=sorted(e2e.BACKENDS), action="append",
                        help="only this backend (repeatable)")
    parser.add_argument("--program", choices=sorted(e2e.PROGRAMS), action="append",
                        help="only this program (repeatable)")
    arguments = parser.parse_args()
    builds = [(program, backend) for program, backend in e2e.builds()
              if (not arguments.backend or backend in arguments.backend)
              and (not arguments.program or program in arguments.program)]
    exe = iree_compile_exe()
    with tempfile.TemporaryDirectory(prefix="asyncvm-conformance-") as directory:
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {build: pool.submit(compile_build, exe, *build, pathlib.Path(directory))
                       for build in builds}
            paths = {build: future.result() for build, future in futures.items()}
        print(f"compiled {len(builds)} builds in {time.perf_counter() - began:.1f} s; "
              f"{arguments.device}, median of {arguments.rounds} call(s) per function "
              f"after a warm-up call")
        print(f"  {'program':<12} {'backend':<9} {'calls':>5} {'iree.runtime':>13} "
              f"{'asyncvm':>10} {'ratio':>7}")
        sums = {}
        all_problems = []
        for program, backend in builds:
            def report(case, iree_seconds, our_seconds):
                if arguments.functions:
                    print(f"      {case:<40} {iree_seconds * 1e3:>8.3f} ms {our_seconds * 1e3:>8.3f} ms "
                          f"{our_seconds / iree_seconds:>6.2f}x")

            iree_s, ours_s, count, problems, untimed = run_build(
                program, backend, paths[program, backend], arguments.device, arguments.rounds, report)
            total = sums.setdefault(backend, [0.0, 0.0, 0])
            total[0] += iree_s
            total[1] += ours_s
            total[2] += count
            all_problems += [f"{program} {backend}: {problem}" for problem in problems]
            print(f"  {program:<12} {backend:<9} {count:>5} {iree_s * 1e3:>10.2f} ms "
                  f"{ours_s * 1e3:>7.2f} ms {ours_s / iree_s:>6.2f}x"
                  + (f"   (checked, not timed: {', '.join(untimed)})" if untimed else ""))
    for backend, (iree_s, ours_s, count) in sums.items():
        print(f"{backend:<9} total over {count} calls: iree.runtime {iree_s * 1e3:.2f} ms, "
              f"asyncvm {ours_s * 1e3:.2f} ms, ratio asyncvm / iree.runtime {ours_s / iree_s:.2f}x")
    if all_problems:
        print(f"{len(all_problems)} answer(s) differ from iree.runtime:")
        for problem in all_problems:
            print("  " + problem.replace("\n", "\n    "))
        unknown = [problem for problem in all_problems if "(known: " not in problem]
        if unknown:
            raise SystemExit(f"{len(unknown)} unexpected difference(s)")
    else:
        print("every answer matches iree.runtime")


if __name__ == "__main__":
    main()
