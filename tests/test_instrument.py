"""Instruments (``asyncvm._instrument``, ``program.set_instrument``): a callback
before and after every function, import and dispatch, that can skip a call
or stop the invocation.

The program is tests/programs/compare_a.mlir: three elementwise dispatches
(``x * y``, then ``+ x``, then ``- y``) kept apart by optimization barriers,
built for VMVX and for llvm-cpu.
"""

from __future__ import annotations

import math
import threading

import numpy
import pytest

import asyncvm
from asyncvm._instrument import (DispatchBinding, InstrumentDecision, InstrumentEvent,
                                 InstrumentKind, install_instrument)
from asyncvm.hal import BufferView
from asyncvm.vm import StatusCode, VMError

pytestmark = pytest.mark.anyio

BUILDS = {"vmvx": (),
          "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                       "--iree-llvmcpu-target-cpu=generic")}
X = numpy.arange(64, dtype=numpy.float32) - 20
Y = numpy.linspace(-3, 3, 64, dtype=numpy.float32)


def expected_chain(x=X, y=Y):
    return (x * y + x) - y


@pytest.fixture(scope="module", params=sorted(BUILDS))
def chain_program(request, compile_mlir):
    return compile_mlir("compare_a.mlir", *BUILDS[request.param])


@pytest.fixture(scope="module")
def vmvx_chain(compile_mlir):
    return compile_mlir("compare_a.mlir")


class Recorder:
    """An instrument that records every event (thread-safe)."""

    def __init__(self, decide=None):
        self.events: list[InstrumentEvent] = []
        self.lock = threading.Lock()
        self.decide = decide

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
        if self.decide is not None:
            return self.decide(event)
        return None

    def of(self, kind, before=None):
        return [event for event in self.events
                if event.kind == kind and (before is None or event.before == before)]


async def test_events_come_in_order_with_names_and_arguments(chain_program):
    program = asyncvm.load(chain_program)
    # No pausing: a local-sync dispatch longer than a time slice would go on
    # in later slices of the loop, outside the import that executed it.
    program.device.time_slice = math.inf
    await program.invoke("chain", X, Y)  # initializers run outside the recorded call
    recorder = Recorder()
    install_instrument(program, recorder)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
    events = recorder.events

    # The function's events open and close the sequence, with its arguments
    # and results as the VM sees them (buffer views).
    first, last = events[0], events[-1]
    assert (first.kind, first.name, first.before) == (InstrumentKind.FUNCTION, "module.chain", True)
    assert (last.kind, last.name, last.before) == ("function", "module.chain", False)
    assert [type(value) for value in first.arguments] == [BufferView, BufferView]
    numpy.testing.assert_array_equal(first.arguments[0].to_array(), X)
    numpy.testing.assert_array_equal(first.arguments[1].to_array(), Y)
    assert len(last.results) == 1 and last.error is None and last.elapsed > 0
    numpy.testing.assert_array_equal(last.results[0].to_array(), expected_chain())

    # Every before has its after, properly nested; on local-sync each
    # dispatch runs inside the import that executes its command buffer.
    stack = []
    for event in events:
        if event.before:
            stack.append(event)
        else:
            opened = stack.pop()
            assert (opened.kind, opened.name) == (event.kind, event.name)
            if event.kind == InstrumentKind.DISPATCH:
                assert stack[-1].kind == InstrumentKind.IMPORT
                assert stack[-1].name.startswith("hal.device.queue.execute")
    assert not stack

    imports = {event.name for event in recorder.of("import")}
    assert {"hal.fence.create", "hal.fence.await", "hal.buffer_view.create"} <= imports
    assert any(name.startswith("hal.device.queue.execute") for name in imports)
    fence_waits = [event for event in recorder.of("import", before=False)
                   if event.name == "hal.fence.await"]
    assert fence_waits and all(event.results == (0,) for event in fence_waits)

    dispatches = recorder.of("dispatch", before=True)
    assert [event.name.split("_dispatch_")[1][:1] for event in dispatches] == ["0", "1", "2"]
    assert all(event.name.startswith("chain_dispatch_") for event in dispatches)
    for event in dispatches:
        assert len(event.workgroup_count) == 3 and all(c >= 1 for c in event.workgroup_count)
        assert event.arguments == event.bindings and len(event.bindings) == 3
        assert all(isinstance(binding, DispatchBinding) and binding.length == 256
                   for binding in event.bindings)
        assert event.bytes_bound == 3 * 256
    # After each dispatch its output binding holds the intermediate tensor.
    afters = recorder.of("dispatch", before=False)
    steps = [X * Y, X * Y + X, expected_chain()]
    for event, step in zip(afters, steps):
        assert event.elapsed >= 0 and not event.skipped
        assert any(numpy.array_equal(binding.array(numpy.float32), step)
                   for binding in event.bindings), event.name


async def test_skipped_dispatch_leaves_the_output_to_the_instrument(chain_program):
    program = asyncvm.load(chain_program)
    outputs = []

    def observe(event):
        if event.kind == "dispatch" and event.after and "_dispatch_1_" in event.name:
            outputs.append(event.bindings[-1].array(numpy.float32).copy())

    install_instrument(program, observe)
    await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(outputs[0], X * Y + X)  # the last binding is the output

    replacement = numpy.full(64, 7.0, numpy.float32)
    skipped = []

    def skip_second(event):
        if event.kind == "dispatch" and "_dispatch_1_" in event.name:
            if event.before:
                event.bindings[-1].write(replacement)
                return InstrumentDecision.skip()
            skipped.append(event.skipped)
        return None

    install_instrument(program, skip_second)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, replacement - Y)
    assert skipped == [True]

    install_instrument(program, None)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())


async def test_skipped_function_and_import_use_the_given_results(vmvx_chain):
    program = asyncvm.load(vmvx_chain)
    answer = numpy.array([42.0], numpy.float32)
    install_instrument(program, lambda event: InstrumentDecision.skip((answer,))
                       if event.kind == "function" and event.before else None)
    (result,) = await program.invoke("chain", X, Y)
    assert result is answer

    # An import skipped with its results: hal.fence.await "returns" 0 at once
    # (the fences here are reached already on local-sync).
    recorder = Recorder(lambda event: InstrumentDecision.skip((0,))
                        if event.name == "hal.fence.await" and event.before else None)
    install_instrument(program, recorder)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
    waits = [event for event in recorder.events if event.name == "hal.fence.await" and event.after]
    assert waits and all(event.skipped and event.results == (0,) for event in waits)

    # The wrong number of results is the instrument's error, not the program's.
    install_instrument(program, lambda event: InstrumentDecision.skip((1, 2))
                       if event.name == "hal.fence.await" and event.before else None)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "hal.fence.await" in caught.value.message and "2 result(s)" in caught.value.message


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
@pytest.mark.parametrize("where, status", [
    ("function", StatusCode.CANCELLED),
    ("import", StatusCode.ABORTED),
    ("dispatch", StatusCode.CANCELLED),
    ("dispatch", StatusCode.ABORTED),
])
async def test_stop_fails_the_invocation_and_the_next_call_answers(vmvx_chain, device, where,
                                                                   status):
    program = asyncvm.load(vmvx_chain, device=device)
    stopped = []

    def stop_once(event):
        if stopped or not event.before or event.kind != where:
            return None
        if where == "import" and not event.name.startswith("hal.device.queue.execute"):
            return None
        if where == "dispatch" and "_dispatch_1_" not in event.name:
            return None
        stopped.append(event.name)
        if status == StatusCode.ABORTED:
            return InstrumentDecision.stop("enough")
        return InstrumentDecision.stop("enough", status)

    install_instrument(program, stop_once)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    error = caught.value
    assert error.status == status
    assert "stop_once" in error.message and "stopped" in error.message
    assert "enough" in error.message and stopped[0] in error.message
    (result,) = await program.invoke("chain", X, Y)  # still instrumented, no more stops
    numpy.testing.assert_array_equal(result, expected_chain())
    install_instrument(program, None)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
    await program.close()


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
@pytest.mark.parametrize("where", ["function", "import", "dispatch"])
async def test_raising_instrument_is_an_internal_error_naming_it(vmvx_chain, device, where):
    program = asyncvm.load(vmvx_chain, device=device)

    def broken_instrument(event):
        if event.kind == where and event.after:
            raise ValueError("broken on purpose")

    install_instrument(program, broken_instrument)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    error = caught.value
    assert error.status == StatusCode.INTERNAL
    assert "broken_instrument" in error.message and "ValueError" in error.message
    assert "broken on purpose" in error.message
    install_instrument(program, None)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
    await program.close()


async def test_removing_the_instrument_restores_the_plain_paths(vmvx_chain):
    program = asyncvm.load(vmvx_chain)
    context = program.context
    function = program.lookup("chain")  # looked up before: still instrumented
    await program.invoke(function, X, Y)
    assert context._direct and context.instrumentation is None

    def cell_contents():
        return {id(cell): cell.cell_contents for state in context._states
                for fn in getattr(state, "functions", ()) or ()
                for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ())
                if name.startswith("_imp")}

    plain = cell_contents()
    recorder = Recorder()
    install_instrument(program, recorder)
    assert not context._direct and program.device.dispatch_hook is not None
    assert cell_contents() != plain
    await program.invoke(function, X, Y)
    seen = len(recorder.events)
    assert recorder.of("function") and recorder.of("import") and recorder.of("dispatch")

    install_instrument(program, Recorder())  # replaces, does not stack
    install_instrument(program, None)
    assert context._direct and context.instrumentation is None
    assert program.device.dispatch_hook is None
    assert cell_contents() == plain
    (result,) = await program.invoke(function, X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
    assert len(recorder.events) == seen


async def test_bad_instruments_are_vm_errors(vmvx_chain):
    program = asyncvm.load(vmvx_chain)
    with pytest.raises(VMError) as caught:
        install_instrument(program, "not callable")
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        install_instrument(object(), print)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT

    install_instrument(program, lambda event: "yes" if event.kind == "import" else None)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "InstrumentDecision" in caught.value.message

    install_instrument(program, lambda event: InstrumentDecision.skip()
                       if event.kind == "dispatch" and event.after else None)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT

    def short_write(event):
        if event.kind == "dispatch" and event.before:
            event.bindings[-1].write(numpy.zeros(3, numpy.float32))

    install_instrument(program, short_write)
    with pytest.raises(VMError) as caught:
        await program.invoke("chain", X, Y)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    assert "short_write" in caught.value.message and "12 given" in caught.value.message

    install_instrument(program, None)
    (result,) = await program.invoke("chain", X, Y)
    numpy.testing.assert_array_equal(result, expected_chain())
