"""asyncvm.Batcher: concurrent requests coalesced into batched calls of a
compiled program (llvm-cpu, local-task), each caller getting exactly the
rows it would have got from a call of its own — checked against IREE's
runtime on the same .vmfb — and the batcher's limits honoured."""

from __future__ import annotations

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError

from _batch_model import LLVM_CPU, WEIGHTS, record_outcome
from _iree_reference import iree_tensor_results
from conftest import SERVING_BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=SERVING_BACKENDS)
def anyio_backend(request):
    return request.param



@pytest.fixture(scope="module")
def model_vmfb(compile_mlir):
    return compile_mlir("batch_model.mlir", *LLVM_CPU)


@pytest.fixture
def program(model_vmfb):
    return asyncvm.load(model_vmfb, device="local-task")


def request_rows(seed: int, rows: int) -> numpy.ndarray:
    generator = numpy.random.default_rng(seed)
    return generator.uniform(-2, 2, size=(rows, 8)).astype(numpy.float32)


async def test_concurrent_requests_get_their_own_rows(program, model_vmfb):
    requests = [request_rows(seed, 1 + seed % 3) for seed in range(48)]
    answers: dict[int, tuple] = {}

    async with asyncvm.Batcher(program, "predict", max_batch_size=16,
                               max_wait=0.05) as batcher:
        async def call(index):
            answers[index] = await batcher(requests[index])

        async with anyio.create_task_group() as group:
            for index in range(len(requests)):
                group.start_soon(call, index)

    for index, x in enumerate(requests):
        expected = iree_tensor_results(model_vmfb, "predict", [x])
        assert len(answers[index]) == 2
        for got, want in zip(answers[index], expected):
            assert got.shape == want.shape
            numpy.testing.assert_array_equal(got, want)
    statistics = batcher.statistics
    assert statistics.requests == 48 and statistics.rows == sum(len(x) for x in requests)
    assert statistics.largest_batch <= 16
    assert statistics.batches < 48, "nothing was batched"


async def test_full_batch_does_not_wait_for_max_wait(program):
    # max_wait is far longer than the test's guard: only a full batch can start.
    async with asyncvm.Batcher(program, "predict", max_batch_size=4, max_wait=3600) as batcher:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for seed in range(8):
                    group.start_soon(batcher, request_rows(seed, 1))
    assert batcher.statistics.batch_sizes == {4: 2}


async def test_lonely_request_runs_after_max_wait(program):
    async with asyncvm.Batcher(program, "predict", max_batch_size=64, max_wait=0.01) as batcher:
        with anyio.fail_after(30):
            y, s = await batcher(request_rows(1, 2))
    assert y.shape == (2, 4) and s.shape == (2,)
    assert batcher.statistics.batch_sizes == {2: 1}


async def test_requests_that_do_not_fit_wait_for_the_next_batch(program):
    async with asyncvm.Batcher(program, "predict", max_batch_size=5, max_wait=0.02,
                               max_concurrent_batches=1) as batcher:
        async with anyio.create_task_group() as group:
            for rows in (3, 3, 2, 4, 1):
                group.start_soon(batcher, request_rows(rows, rows))
    assert batcher.statistics.largest_batch <= 5
    assert batcher.statistics.rows == 13


async def test_static_batch_program_is_padded(program, model_vmfb):
    requests = [request_rows(seed, 1 + seed % 2) for seed in range(10)]
    answers = {}
    async with asyncvm.Batcher(program, "predict8", max_batch_size=8, max_wait=0.02,
                               fixed_arguments=(WEIGHTS,),
                               pad_to_max_batch_size=True) as batcher:
        async def call(index):
            (answers[index],) = await batcher(requests[index])

        async with anyio.create_task_group() as group:
            for index in range(len(requests)):
                group.start_soon(call, index)
    for index, x in enumerate(requests):
        padded = numpy.zeros((8, 8), numpy.float32)
        padded[:len(x)] = x
        (expected,) = iree_tensor_results(model_vmfb, "predict8", [padded, WEIGHTS])
        numpy.testing.assert_array_equal(answers[index], expected[:len(x)])
    assert batcher.statistics.padded_rows > 0


async def test_cancelled_caller_is_dropped_from_its_batch(program, model_vmfb):
    answers = {}
    async with asyncvm.Batcher(program, "predict", max_batch_size=5, max_wait=3600) as batcher:
        async def call(index):
            answers[index] = await batcher(request_rows(index, 1))

        async with anyio.create_task_group() as group:
            async with anyio.create_task_group() as doomed:
                doomed.start_soon(call, 100)
                while batcher.statistics.requests < 1:
                    await anyio.sleep(0)
                doomed.cancel_scope.cancel()
            # Five more rows fill the batch; the cancelled request is not in it.
            for index in range(5):
                group.start_soon(call, index)
    assert 100 not in answers
    for index in range(5):
        expected = iree_tensor_results(model_vmfb, "predict", [request_rows(index, 1)])
        numpy.testing.assert_array_equal(answers[index][0], expected[0])
    assert batcher.statistics.dropped_requests == 1
    assert batcher.statistics.batch_sizes == {5: 1}


async def test_failing_batch_fails_only_its_requests(program):
    good = request_rows(7, 1)
    good[0, 0] = 1.0
    bad = good.copy()
    bad[0, 0] = -1.0
    outcomes = {}
    # Two rows fill a batch: the two bad requests run together, then the two good ones.
    async with asyncvm.Batcher(program, "strict", max_batch_size=2, max_wait=3600,
                               max_concurrent_batches=1) as batcher:
        def call(tag, x):
            return record_outcome(outcomes, tag, lambda: batcher(x))

        async with anyio.create_task_group() as group:
            # In order: bad2 is good data, but shares bad1's batch.
            for started, (tag, x) in enumerate([("bad1", bad), ("bad2", good),
                                                ("good1", good), ("good2", good)], 1):
                group.start_soon(call, tag, x)
                while batcher.statistics.requests < started:
                    await anyio.sleep(0)
    for tag in ("bad1", "bad2"):
        assert isinstance(outcomes[tag], VMError)
        assert outcomes[tag].status == StatusCode.FAILED_PRECONDITION
        assert "negative input" in str(outcomes[tag])
    assert outcomes["bad1"] is not outcomes["bad2"]
    for tag in ("good1", "good2"):
        numpy.testing.assert_array_equal(outcomes[tag][0], good)


async def test_a_non_vmerror_fails_only_its_batch(program, model_vmfb, monkeypatch):
    real_invoke = program.invoke
    calls = []

    async def invoke_with_a_bug(function, *arguments, **keywords):
        calls.append(len(arguments[0]))
        if len(calls) == 1:
            raise TypeError("a bug in Python code")
        return await real_invoke(function, *arguments, **keywords)

    monkeypatch.setattr(program, "invoke", invoke_with_a_bug)
    outcomes = {}
    async with asyncvm.Batcher(program, "predict", max_batch_size=2, max_wait=3600,
                               max_concurrent_batches=1) as batcher:
        def call(tag, x):
            return record_outcome(outcomes, tag, lambda: batcher(x))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                # Two rows fill a batch: first1 and first2 share the failing one.
                for started, tag in enumerate(["first1", "first2", "next1", "next2"], 1):
                    group.start_soon(call, tag, request_rows(started, 1))
                    while batcher.statistics.requests < started:
                        await anyio.sleep(0)
            # numpy failing while the batch is assembled: that batch fails alike.
            memory_rows = request_rows(9, 1)
            with monkeypatch.context() as patch:
                def concatenate(*arguments, **keywords):
                    raise MemoryError()
                patch.setattr(numpy, "concatenate", concatenate)
                async with anyio.create_task_group() as group:
                    for tag in ("memory1", "memory2"):
                        group.start_soon(call, tag, memory_rows)
            outcomes["after"] = await batcher(request_rows(10, 2))
    for tag in ("first1", "first2"):
        error = outcomes[tag]
        assert isinstance(error, VMError) and error.status == StatusCode.INTERNAL
        assert "TypeError: a bug in Python code" in str(error) and "predict" in str(error)
        assert isinstance(error.__cause__, TypeError)
    assert outcomes["first1"] is not outcomes["first2"]
    for tag in ("memory1", "memory2"):
        assert isinstance(outcomes[tag], VMError)
        assert outcomes[tag].status == StatusCode.RESOURCE_EXHAUSTED
        assert isinstance(outcomes[tag].__cause__, MemoryError)
    assert outcomes["memory1"] is not outcomes["memory2"]
    for tag, seed, rows in (("next1", 3, 1), ("next2", 4, 1), ("after", 10, 2)):
        expected = iree_tensor_results(model_vmfb, "predict", [request_rows(seed, rows)])
        for got, want in zip(outcomes[tag], expected):
            numpy.testing.assert_array_equal(got, want)
    assert calls == [2, 2, 2]
    assert batcher.statistics.batches == 4


async def test_mismatched_shapes_are_batched_apart(program):
    async with asyncvm.Batcher(program, "predict", max_batch_size=8, max_wait=0.02) as batcher:
        outcomes = {}

        def call(tag, x):
            return record_outcome(outcomes, tag, lambda: batcher(x))

        async with anyio.create_task_group() as group:
            group.start_soon(call, "wide", numpy.ones((1, 9), numpy.float32))
            group.start_soon(call, "right", numpy.ones((1, 8), numpy.float32))
    assert isinstance(outcomes["wide"], VMError)
    assert outcomes["wide"].status == StatusCode.INVALID_ARGUMENT
    assert outcomes["right"][0].shape == (1, 4)
    assert outcomes["right"][1].tolist() == [8.0]


async def test_bad_requests_are_invalid_argument(program):
    async with asyncvm.Batcher(program, "predict", max_batch_size=4, max_wait=0.01) as batcher:
        for bad in [(numpy.ones((5, 8), numpy.float32),), (numpy.ones((0, 8), numpy.float32),),
                    (numpy.float32(1.0),), ([1.0] * 8,), (),
                    (numpy.ones((1, 8), numpy.float32), numpy.ones((1, 8), numpy.float32))]:
            with pytest.raises(VMError) as caught:
                await batcher(*bad)
            assert caught.value.status == StatusCode.INVALID_ARGUMENT
        assert batcher.statistics.requests == 0


async def test_settings_and_lifetime(program):
    for settings in [dict(max_batch_size=0, max_wait=0.1), dict(max_batch_size=4, max_wait=-1),
                     dict(max_batch_size=4, max_wait=float("inf")),
                     dict(max_batch_size=4, max_wait=0.1, max_concurrent_batches=0)]:
        with pytest.raises(VMError) as caught:
            asyncvm.Batcher(program, "predict", **settings)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        asyncvm.Batcher(program, "no_such_function", max_batch_size=4, max_wait=0.1)
    assert caught.value.status == StatusCode.NOT_FOUND

    batcher = asyncvm.Batcher(program, "predict", max_batch_size=4, max_wait=0.1)
    with pytest.raises(VMError) as caught:
        await batcher(request_rows(0, 1))
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    async with batcher:
        assert (await batcher(request_rows(0, 1)))[0].shape == (1, 4)
    with pytest.raises(VMError) as caught:
        await batcher(request_rows(0, 1))
    assert caught.value.status == StatusCode.FAILED_PRECONDITION


async def test_waiting_requests_run_when_the_block_ends(program):
    results = []
    async with anyio.create_task_group() as group:
        async with asyncvm.Batcher(program, "predict", max_batch_size=64,
                                   max_wait=3600) as batcher:
            async def call(seed):
                results.append(await batcher(request_rows(seed, 1)))

            for seed in range(3):
                group.start_soon(call, seed)
            await anyio.sleep(0.01)
        # Leaving the block flushed the three waiting requests at once.
    assert len(results) == 3


async def test_requests_left_waiting_by_a_failure_are_cancelled(program):
    outcomes = []

    async def call(batcher):
        try:
            outcomes.append(await batcher(request_rows(0, 1)))
        except VMError as error:
            outcomes.append(error)

    async with anyio.create_task_group() as group:
        with pytest.raises(RuntimeError):
            async with asyncvm.Batcher(program, "predict", max_batch_size=64,
                                       max_wait=3600) as batcher:
                group.start_soon(call, batcher)
                await anyio.sleep(0.01)
                raise RuntimeError("the service failed")
    assert len(outcomes) == 1 and isinstance(outcomes[0], VMError)
    assert outcomes[0].status == StatusCode.CANCELLED
