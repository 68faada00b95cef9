"""One invocation fails; the invocations running beside it in the same
context (and the same device) finish undisturbed with the right answers.

The failures: ``vm.fail`` after suspending, a failed check expectation, a
kernel whose queue work fails on ``local-task`` (injected in the device, so
the failure travels the real path: failed semaphore, failed fence, the one
waiter), and bad arguments.
"""

from __future__ import annotations

import threading

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.vm import StatusCode, VMError
from asyncvm.hal import Device, HalModule
from asyncvm.modules.check import create_check_module

from _batch_model import LLVM_CPU, record_outcome
from _iree_reference import iree_tensor_results
from conftest import SERVING_BACKENDS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=SERVING_BACKENDS)
def anyio_backend(request):
    return request.param



class FailingDevice(Device):
    """local-task whose ``fail_dispatch``-th dispatch fails like a kernel error."""

    def __init__(self, fail_dispatch: int) -> None:
        super().__init__("local-task")
        self.inline_limit = 0  # every dispatch through for_each below
        self.fail_dispatch = fail_dispatch
        self._count = 0
        self._lock = threading.Lock()

    def for_each(self, count, body):
        with self._lock:
            self._count += 1
            failing = self._count == self.fail_dispatch
        if failing:
            raise VMError(StatusCode.INTERNAL, "kernel returned 1 (injected)")
        super().for_each(count, body)


def rows(seed: int) -> numpy.ndarray:
    return numpy.random.default_rng(seed).uniform(-2, 2, (3, 8)).astype(numpy.float32)


async def test_failures_do_not_disturb_their_neighbours(compile_mlir):
    yield_program = asyncvm.load(compile_mlir("vm_yield.mlir", mode="vm"))
    check_program = asyncvm.load(compile_mlir("check_tests.mlir"),
                                 modules=[create_check_module()])
    model_vmfb = compile_mlir("batch_model.mlir", *LLVM_CPU)
    device = FailingDevice(fail_dispatch=6)
    model = asyncvm.load(model_vmfb, modules=[HalModule([device])])
    await model.invoke("predict", rows(0))  # warm up: dispatch 1

    outcomes: dict[str, object] = {}

    def run(tag, call):
        return record_outcome(outcomes, tag, call)

    async with anyio.create_task_group() as group:
        for index in range(10):
            group.start_soon(run, f"model{index}", lambda i=index: model.invoke("predict", rows(i)))
            group.start_soon(run, f"sum{index}", lambda i=index: yield_program.invoke(
                "yield_sum", 100 * i))
        group.start_soon(run, "vm.fail", lambda: yield_program.invoke("yield_then_fail", 5))
        group.start_soon(run, "check", lambda: check_program.invoke("wrongly_failing"))
        group.start_soon(run, "check ok", lambda: check_program.invoke("add_matches"))
        group.start_soon(run, "bad shape", lambda: model.invoke(
            "predict", numpy.ones((3, 9), numpy.float32)))
        group.start_soon(run, "bad count", lambda: yield_program.invoke("yield_sum", 1, 2))

    assert outcomes["vm.fail"].status == StatusCode.ABORTED
    assert outcomes["check"].status == StatusCode.FAILED_PRECONDITION
    assert outcomes["check ok"] == ()
    assert outcomes["bad shape"].status == StatusCode.INVALID_ARGUMENT
    assert outcomes["bad count"].status == StatusCode.INVALID_ARGUMENT
    kernel_failures = [tag for tag in outcomes if tag.startswith("model")
                       and isinstance(outcomes[tag], VMError)]
    assert len(kernel_failures) == 1, kernel_failures
    assert outcomes[kernel_failures[0]].status == StatusCode.INTERNAL
    assert "injected" in str(outcomes[kernel_failures[0]])
    for index in range(10):
        assert outcomes[f"sum{index}"] == (100 * index * (100 * index - 1) // 2, 100 * index)
        tag = f"model{index}"
        if tag not in kernel_failures:
            y, s = outcomes[tag]
            want_y, want_s = iree_tensor_results(model_vmfb, "predict", [rows(index)])
            numpy.testing.assert_array_equal(y, want_y)
            numpy.testing.assert_array_equal(s, want_s)
    # Afterwards every program still answers.
    assert await yield_program.invoke("yield_sum", 10) == (45, 10)
    assert await check_program.invoke("integers_equal") == ()
    y, _ = await model.invoke("predict", rows(3))
    numpy.testing.assert_array_equal(y, iree_tensor_results(model_vmfb, "predict", [rows(3)])[0])
