"""The Python-facing API of a program: ``program["add"]`` / ``program.add``
function objects (awaitable, documented with the signature the compiler
recorded), membership and iteration, synchronous calls from plain code and
from inside running asyncio and trio loops, ``async with``, and a batcher
that survives an exception that is not a VMError."""

from __future__ import annotations

import asyncio
import inspect
import pydoc

import anyio
import ml_dtypes
import numpy
import pytest
import trio

import asyncvm
from _program_fixtures import (assert_same_arrays, program, quickstart_vmfb,  # noqa: F401
                              tensor_vmfb, watchdog)
from _iree_reference import iree_tensor_results
from asyncvm._function import ProgramFunction
from asyncvm._signature import (RefType, ScalarType, SpanType, TensorType, function_signature,
                                parse_declaration)
from asyncvm.modules.python import PythonModule
from asyncvm.vm import StatusCode, VMError

RANDOM = numpy.random.default_rng(11)


def f32(*shape):
    return RANDOM.standard_normal(shape).astype(numpy.float32)


TENSOR_CASES = {
    "add": [f32(4), f32(4)],
    "matmul": [f32(4, 8), f32(8, 16)],
    "small_ints": [numpy.array([1, -2, 100, -128], numpy.int8),
                   numpy.array([3, -300, 200, 7], numpy.int16)],
    "dynamic": [f32(7), f32(7)],
    "branchy": [f32(4), 1],
}


# -- function objects --------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(TENSOR_CASES))
async def test_function_objects_answer_like_invoke_and_iree(program, tensor_vmfb, name):
    arguments = TENSOR_CASES[name]
    expected = iree_tensor_results(tensor_vmfb, name, arguments)
    by_item = await program[name](*arguments)
    by_attribute = await getattr(program, name)(*arguments, timeout=60)
    by_invoke = await program.invoke(name, *arguments)
    by_object = await program.invoke(program[name], *arguments)
    for results in (by_item, by_attribute, by_invoke, by_object):
        assert isinstance(results, tuple)
        assert_same_arrays(results, expected)


@pytest.mark.anyio
async def test_scalar_function_objects_match_iree(quickstart_vmfb, iree_reference):
    program = asyncvm.load(quickstart_vmfb)
    for name, arguments in [("gcd", (84, 36)), ("gcd", (17, 5)), ("collatz_steps", (27,))]:
        expected = iree_reference(quickstart_vmfb, name, *arguments)
        assert await program[name](*arguments) == expected
        assert await program.invoke(name, *arguments) == expected


@pytest.mark.anyio
async def test_function_object_errors_are_those_of_invoke(program):
    with pytest.raises(VMError) as caught:
        await program.add(f32(5), f32(4))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        await program.add(f32(4))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_function_objects_are_cached_per_name(program):
    add = program["add"]
    assert isinstance(add, ProgramFunction)
    assert program["add"] is add and program.add is add and program["module.add"] is add
    assert add.name == add.__name__ == "add" and add.full_name == "module.add"
    assert add.calling_convention == "0rr_r"
    assert add.program is program
    assert set(program.functions) == set(program) and program.functions["add"] is add


def test_unknown_names_are_not_found(program):
    with pytest.raises(VMError) as caught:
        program["nope"]
    assert caught.value.status == StatusCode.NOT_FOUND
    message = str(caught.value)
    assert "'nope'" in message and "add" in message and "matmul" in message
    with pytest.raises(VMError) as caught:
        program["__init"]  # IREE's internal initializer is not public
    assert caught.value.status == StatusCode.NOT_FOUND
    with pytest.raises(AttributeError) as caught:
        program.nope
    assert "nope" in str(caught.value) and "add" in str(caught.value)
    with pytest.raises(AttributeError):
        program._private_probe  # protocols probing underscores get AttributeError
    with pytest.raises(TypeError):
        program[3]


def test_membership_iteration_and_dir(program):
    names = list(program)
    assert names[:3] == ["add", "scale_rows", "matmul"] and "int8_matmul" in names
    assert not any(name.startswith("__") for name in names)
    assert "add" in program and "module.add" in program
    assert "nope" not in program and "__init" not in program and 3 not in program
    assert {"add", "matmul", "invoke", "close"} <= set(dir(program))
    assert "add" in repr(program)


def test_program_attributes_win_over_functions_of_the_same_name():
    host = PythonModule("host")
    host.export("0i_i", name="invoke")(lambda x: x + 1)
    host.export("0i_i", name="close")(lambda x: x + 2)
    host.export("0i_i", name="triple")(lambda x: 3 * x)
    program = asyncvm.load(host)
    assert inspect.ismethod(program.invoke) and inspect.ismethod(program.close)
    assert program.triple is program["triple"]
    assert program["invoke"].call_sync(1) == (2,) and program["close"].call_sync(1) == (3,)
    assert "invoke" in program and set(program) == {"invoke", "close", "triple"}


# -- signatures --------------------------------------------------------------------------

def test_signatures_come_from_the_compiled_declaration(program):
    add = program["add"]
    signature = add.signature
    assert signature.source == "declaration" and signature.model == "sync"
    assert signature.declaration.startswith("sync func @add(%input0: tensor<4xf32>")
    assert [p.name for p in signature.arguments] == ["input0", "input1"]
    first = signature.arguments[0].type
    assert isinstance(first, TensorType)
    assert first.dtype == numpy.float32 and first.shape == (4,) and first.element_type == "f32"
    assert str(signature) == ("add(input0: tensor<4xf32>, input1: tensor<4xf32>) -> "
                              "(output0: tensor<4xf32>)")

    dynamic = program["dynamic_matmul"].signature
    assert [p.type.shape for p in dynamic.arguments + dynamic.results] == [(None, None)] * 3
    assert all(p.type.is_dynamic for p in dynamic.arguments)

    int8 = program["int8_matmul"].signature
    assert [p.type.dtype for p in int8.arguments] == [numpy.int8, numpy.int8]
    assert [p.type.shape for p in int8.arguments] == [(4, 8), (8, 4)]
    assert int8.results[0].type.dtype == numpy.int32 and int8.results[0].type.shape == (4, 4)

    small = program["small_ints"].signature
    assert [p.type.dtype for p in small.results] == [numpy.int8, numpy.int16]

    branchy = program["branchy"].signature
    flag = branchy.arguments[1].type
    assert isinstance(flag, ScalarType) and flag.name == "i32" and flag.python_type is int


def test_signatures_are_readable(program):
    add = program["add"]
    assert str(inspect.signature(add)) == (
        "(input0: tensor<4xf32>, input1: tensor<4xf32>, /, *, timeout: float | None = None)"
        " -> tuple[tensor<4xf32>]")
    assert repr(add) == ("<asyncvm function module.add(input0: tensor<4xf32>, "
                         "input1: tensor<4xf32>) -> (output0: tensor<4xf32>)>")
    assert "a float32 array of shape (4,)" in add.__doc__
    assert "sync func @add(" in add.__doc__ and "call_sync" in add.__doc__
    text = pydoc.render_doc(add, renderer=pydoc.plaintext)
    assert "add(input0: tensor<4xf32>, input1: tensor<4xf32>, /, *, timeout" in text
    assert "a float32 array of shape (4,)" in text
    dynamic = program["dynamic"]
    assert "a float32 array of shape (?,)" in dynamic.__doc__


def test_signatures_of_scalars_lists_and_quickstart(compile_mlir, quickstart_vmfb):
    program = asyncvm.load(quickstart_vmfb)
    collatz = program.collatz_steps.signature
    assert str(collatz) == "collatz_steps(input0: i64) -> (output0: i32)"
    affine = program.affine.signature
    assert [p.type.shape for p in affine.arguments] == [(2, 3), (3, 2), (2,)]
    lists = asyncvm.load(compile_mlir("lists_globals.mlir"))
    squares = lists["squares"].signature
    assert squares.results[0].type == RefType("!util.list<?>")
    mixed = lists["mixed"].signature
    assert [str(p.type) for p in mixed.arguments] == ["i32", "i64", "f32"]
    assert mixed.arguments[2].type.python_type is float


def test_without_a_declaration_the_calling_convention_is_the_signature():
    host = PythonModule("host")
    host.export("0iF_f", name="plain")(lambda a, b: float(a) + b)
    host.export("0ii_i", name="named", **{
        "iree.abi.declaration": "sync func @named(%count: i32, %step: i32) -> (%total: i32)"})(
        lambda a, b: a * b)
    host.export("0CiDr_i", name="spans")(lambda values, ref: len(values))
    program = asyncvm.load(host)
    plain = program.plain
    assert plain.signature.source == "calling convention"
    assert str(plain.signature) == "plain(arg0: i32, arg1: f64) -> (result0: f32)"
    assert str(inspect.signature(plain)) == (
        "(arg0: i32, arg1: f64, /, *, timeout: float | None = None) -> tuple[f32]")
    assert plain.call_sync(2, 0.5) == (2.5,)
    named = program.named
    assert named.signature.source == "declaration"
    assert list(inspect.signature(named).parameters) == ["count", "step", "timeout"]
    assert named.call_sync(6, 7) == (42,)
    spans = program.spans.signature
    assert spans.arguments[0].type == SpanType(("i32",)) and str(spans.arguments[0].type) == "list[i32]"


def test_declaration_parsing_edge_cases():
    model, name, arguments, results = parse_declaration(
        'async func @f(%x: tensor<?x4xcomplex<f32>, #enc<"a,b">> {iree.abi.consume}, '
        '%if: index) -> tensor<*xi8>')
    assert (model, name) == ("async", "f")
    assert arguments[0].type.shape == (None, 4) and arguments[0].type.dtype == numpy.complex64
    assert arguments[0].type.encoding == '#enc<"a,b">' and arguments[0].attributes == "iree.abi.consume"
    assert arguments[1].type == ScalarType("index")
    assert results[0].type.shape is None and results[0].type.dtype == numpy.int8
    # The coarse-fences model adds the wait and signal fences to the convention.
    signature = function_signature("f", "0rIrr_r", {"iree.abi.declaration": (
        "async func @f(%x: tensor<2xbf16>, %if: i64) -> (%y: tensor<f32>)")})
    assert signature.source == "declaration"
    assert [p.name for p in signature.arguments] == ["x", "if", "wait_fence", "signal_fence"]
    assert signature.arguments[0].type.dtype == numpy.dtype(ml_dtypes.bfloat16)
    assert signature.results[0].type.shape == ()
    assert list(signature.to_inspect().parameters)[:2] == ["x", "if_"]
    # A declaration that disagrees with the convention, or free text, falls back.
    for text in ["sync func @g(%a: tensor<4xf32>) -> ()", "def g(a, b): ...", "sync func @g(%a"]:
        fallback = function_signature("g", "0ii_i", {"iree.abi.declaration": text})
        assert fallback.source == "calling convention" and fallback.declaration == text
    # The legacy JSON ABI, and a declaration inside a printed iree.reflection.
    legacy = function_signature("h", "0rI_r", {"iree.abi": (
        '{"a":[["ndarray","f32",2,null,3],"i64"],"r":[["ndarray","f32",1,3]],"v":1}')})
    assert legacy.source == "iree.abi" and legacy.arguments[0].type.shape == (None, 3)
    nested = function_signature("k", "0r_r", {"iree.reflection": (
        '{iree.abi.declaration = "sync func @k(%a: tensor<2xi32>) -> (%b: tensor<2xi32>)"}')})
    assert nested.source == "declaration" and nested.results[0].type.dtype == numpy.int32


# -- synchronous calls -------------------------------------------------------------------

def test_sync_calls_from_plain_code(program, tensor_vmfb):
    a, b = f32(4), f32(4)
    expected = iree_tensor_results(tensor_vmfb, "add", [a, b])
    assert_same_arrays(program.add.call_sync(a, b), expected)
    assert_same_arrays(program["add"].call_sync(a, b, timeout=60), expected)
    assert_same_arrays(program.invoke_sync("add", a, b), expected)
    for _ in range(3):  # each call has a loop of its own; the program carries on
        assert_same_arrays(program.add.call_sync(a, b), expected)
    with pytest.raises(VMError) as caught:
        program.add.call_sync(a)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    program.close_sync()
    with pytest.raises(VMError) as caught:
        program.invoke_sync("add", a, b)
    assert caught.value.status == StatusCode.FAILED_PRECONDITION


def test_sync_calls_inside_asyncio_run_and_trio_run(program, tensor_vmfb, watchdog):
    a, b = f32(4), f32(4)
    expected = iree_tensor_results(tensor_vmfb, "add", [a, b])

    async def mixed():
        first = await program.add(a, b)
        second = program.add.call_sync(a, b)  # blocks this loop, runs on a worker thread
        third = program.invoke_sync("add", a, b)
        return first, second, third, await program.add(a, b)

    for results in (asyncio.run(mixed()), trio.run(mixed)):
        for answer in results:
            assert_same_arrays(answer, expected)


@pytest.mark.anyio
async def test_sync_call_inside_the_running_loop(program, tensor_vmfb, watchdog):
    a, b = f32(4), f32(4)
    expected = iree_tensor_results(tensor_vmfb, "add", [a, b])
    assert_same_arrays(program.add.call_sync(a, b), expected)
    assert_same_arrays(await program.add(a, b), expected)  # the loop carries on with it
    local_task = asyncvm.load(tensor_vmfb, device="local-task")
    assert_same_arrays(local_task.add.call_sync(a, b), expected)
    assert_same_arrays(await local_task.add(a, b), expected)


def gated_program():
    """A program whose ``wait`` export suspends until ``gate`` is set."""
    state = {"gate": None, "entered": None}
    host = PythonModule("host")

    @host.export("0i_i")
    async def wait(x):
        state["entered"].set()
        await state["gate"].wait()
        return x

    @host.export("0i_i")
    def twice(x):
        return 2 * x

    return asyncvm.load(host), state


@pytest.mark.anyio
async def test_sync_call_while_async_calls_are_in_flight_fails_not_hangs(watchdog):
    program, state = gated_program()
    state["gate"], state["entered"] = anyio.Event(), anyio.Event()
    outcome = []
    async with anyio.create_task_group() as group:
        async def in_flight():
            outcome.append(await program.wait(5))

        group.start_soon(in_flight)
        with anyio.fail_after(30):
            await state["entered"].wait()
        for call in (lambda: program.twice.call_sync(4), lambda: program.invoke_sync("twice", 4)):
            with pytest.raises(VMError) as caught:
                call()
            assert caught.value.status == StatusCode.FAILED_PRECONDITION
        state["gate"].set()
    assert outcome == [(5,)]
    assert program.twice.call_sync(4) == (8,)  # nothing in flight: fine again
    assert await program.twice(4) == (8,)


# -- async with --------------------------------------------------------------------------

@pytest.mark.anyio
async def test_async_with_closes_the_program(tensor_vmfb):
    a, b = f32(4), f32(4)
    async with asyncvm.load(tensor_vmfb) as program:
        assert isinstance(program, asyncvm.Program)
        (result,) = await program.add(a, b)
        numpy.testing.assert_array_equal(result, a + b)
    with pytest.raises(VMError) as caught:
        await program.add(a, b)
    assert caught.value.status == StatusCode.FAILED_PRECONDITION

    closed = []
    host = PythonModule("host")
    host.export("0i_i", name="one")(lambda x: x)
    with pytest.raises(RuntimeError):
        async with asyncvm.load(host) as other:
            await other.one(1)
            closed.append(other)
            raise RuntimeError("the block failed")
    with pytest.raises(VMError) as caught:
        await closed[0].one(1)
    assert caught.value.status == StatusCode.FAILED_PRECONDITION


# -- the batcher --------------------------------------------------------------------------

@pytest.mark.anyio
async def test_batcher_takes_a_function_object_and_survives_a_non_vmerror(compile_mlir):
    model = compile_mlir("batch_model.mlir")
    program = asyncvm.load(model)
    real_invoke = program.invoke
    failures = iter([TypeError("a bug in Python code around the call")])

    async def flaky_invoke(function, *arguments, **keywords):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await real_invoke(function, *arguments, **keywords)

    program.invoke = flaky_invoke
    rows = [numpy.full((1, 8), float(i), numpy.float32) for i in range(4)]
    outcomes = {}
    async with asyncvm.Batcher(program, program.predict, max_batch_size=2, max_wait=3600,
                               max_concurrent_batches=1) as batcher:
        async def call(index):
            try:
                outcomes[index] = await batcher(rows[index])
            except VMError as error:
                outcomes[index] = error

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for index in range(4):
                    group.start_soon(call, index)
                    while batcher.statistics.requests <= index:
                        await anyio.sleep(0)
            pair = numpy.concatenate([rows[0], rows[1]])
            later = await batcher(pair)  # two rows fill a batch: the batcher still serves
    first, second = outcomes[0], outcomes[1]
    for error in (first, second):
        assert isinstance(error, VMError) and error.status == StatusCode.INTERNAL
        assert "TypeError" in str(error) and "a bug in Python code" in str(error)
        assert isinstance(error.__cause__, TypeError)
    assert first is not second
    for index in (2, 3):
        assert_same_arrays(outcomes[index], iree_tensor_results(model, "predict", [rows[index]]))
    assert_same_arrays(later, iree_tensor_results(model, "predict", [pair]))
