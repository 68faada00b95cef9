"""A fixed slice of bench/fuzz.py: mutated host, VMVX and llvm-cpu programs,
embedded ELF images, parameter files and request bodies.

The same inputs every run (seed 7, inputs 0 to SLICE - 1), run in this
process under asyncio and trio: every one ends in ``ran``, a VMError, an
HTTP status or (llvm-cpu with changed host code) ``loaded`` — no other
exception — and within its calls' deadlines.
``python bench/fuzz.py --inputs 200000`` runs the same at scale, in worker
processes that also catch crashes and hangs.
"""

from __future__ import annotations

import importlib.util
import pathlib
import time

import pytest

pytest.importorskip("iree.compiler", reason="the fuzz seeds are built with iree-compile")
pytest.importorskip("iree.runtime", reason="the .irpa seed is written by IREE's runtime")
pytest.importorskip("gguf", reason="the .gguf seed is written by the gguf package")
pytest.importorskip("httpx", reason="request bodies go through httpx.ASGITransport")

pytestmark = pytest.mark.anyio

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
SEED = 7
SLICE = 240
DEADLINE = 1.0
SLACK = 2.0


def load_bench():
    specification = importlib.util.spec_from_file_location("asyncvm_fuzz_bench", BENCH)
    module = importlib.util.module_from_spec(specification)
    specification.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzz():
    return load_bench()


@pytest.fixture(scope="module")
def seeds(fuzz, tmp_path_factory):
    return fuzz.build_seeds(tmp_path_factory.mktemp("fuzz-seeds"))


async def test_fixed_slice_ends_cleanly(fuzz, seeds):
    fuzzer = fuzz.Fuzzer(seeds, SEED, fuzz.TARGETS, DEADLINE)
    outcomes: dict[str, int] = {}
    slow = []

    async def body():
        for index in range(SLICE):
            began = time.perf_counter()
            outcome = await fuzzer.run(index)
            if time.perf_counter() - began > 3 * DEADLINE + SLACK:
                slow.append(index)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    try:
        await fuzzer.serve(body)
    finally:
        fuzzer.close()
    assert not fuzzer.findings, "\n".join(fuzzer.findings)
    assert not slow, f"inputs past their deadlines: {slow}"
    assert sum(outcomes.values()) == SLICE
    assert all(outcome == "ran" or outcome.startswith(("VMError ", "HTTP ", "loaded "))
               for outcome in outcomes), outcomes
    # The slice reaches every kind of answer: programs that still run, loader
    # and verifier rejections, and the server's protocol errors.
    assert outcomes.get("ran", 0) > 0
    assert outcomes.get("VMError INVALID_ARGUMENT", 0) > 0
    assert any(outcome.startswith("HTTP 4") for outcome in outcomes)


def test_mutations_leave_the_protected_span_alone(fuzz):
    import random

    data = bytes(range(256)) * 4
    for seed in range(200):
        mutated, _ = fuzz.mutate(data, random.Random(seed), [data], protected=(100, 300))
        kept = mutated[100:300]
        assert kept == data[100:100 + len(kept)]


def test_plan_is_a_function_of_seed_and_index(fuzz):
    first = fuzz.plan(3, 41, fuzz.TARGETS)
    second = fuzz.plan(3, 41, fuzz.TARGETS)
    assert first[:2] == second[:2]
    assert first[2].random() == second[2].random()
    assert {fuzz.plan(3, i, fuzz.TARGETS)[0] for i in range(12)} == set(fuzz.TARGETS)
    assert {fuzz.plan(3, i, fuzz.TARGETS)[1] for i in range(12)} == set(fuzz.DRIVERS)


# Inputs the fuzzer once found wanting, with what they gave then: every one
# now ends in a clean answer within its deadlines. They replay exactly as
# long as the pinned compiler builds the same seeds.
FOUND = [
    (20261201, 6282, "INTERNAL: a float read as an int inside translated code"),
    (20261201, 6632, "a segfault: a register read before written fed a kernel 3 + 3 * 2**32 rows"),
    (20261201, 20233, "20 s past its deadline zeroing gigabytes of vm.buffer"),
    (20261201, 81343, "INTERNAL: execution ran past the last block"),
    (20261202, 159193, "INTERNAL: a ref passed to hal.command_buffer.dispatch as an int"),
    (20261202, 140600, "INTERNAL: __init pointed at a function that takes an argument"),
]


@pytest.mark.parametrize("seed, index, then", FOUND, ids=[f"{s}-{i}" for s, i, _ in FOUND])
async def test_inputs_found_before_end_cleanly(fuzz, seeds, seed, index, then):
    fuzzer = fuzz.Fuzzer(seeds, seed, fuzz.TARGETS, DEADLINE)
    outcome = []

    async def body():
        began = time.perf_counter()
        outcome.append(await fuzzer.run(index))
        outcome.append(time.perf_counter() - began)

    try:
        await fuzzer.serve(body)
    finally:
        fuzzer.close()
    assert not fuzzer.findings, "\n".join(fuzzer.findings)
    assert not fuzzer.internal, fuzzer.internal
    answer, elapsed = outcome
    assert answer == "ran" or answer.startswith(("VMError ", "loaded ")), answer
    assert elapsed < 3 * DEADLINE + SLACK, f"{elapsed:.1f} s (then: {then})"
