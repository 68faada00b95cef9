"""PythonModule: numpy arrays for buffer views, results checked against the
calling convention, and failures that name the export.

The exports are called directly through a context (``context.invoke``), from
a compiled tensor program (the export gets and returns tensors), and from a
bytecode module (``ctx_user.mlir`` imports ``host.fetch``).
"""

from __future__ import annotations

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import BufferView, HalModule
from asyncvm.modules.python import PythonModule
from asyncvm.vm import Context, NativeModule, StatusCode, VMBuffer, VMError, round_f32

pytestmark = pytest.mark.anyio

TENSOR_IMPORT = """
func.func private @host.scale(tensor<4xf32>) -> tensor<4xf32>
func.func @run(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = call @host.scale(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %z = arith.addf %y, %x : tensor<4xf32>
  return %z : tensor<4xf32>
}
"""


def context_of(*modules) -> Context:
    """A context with the HAL first (its ref types are then registered)."""
    return Context(modules=[HalModule(), *modules])


async def invoke_failing(context: Context, name: str, *arguments) -> VMError:
    with pytest.raises(VMError) as caught:
        await context.invoke(name, *arguments)
    return caught.value


# -- numpy in, numpy out ------------------------------------------------------------------


async def test_buffer_view_argument_is_an_array_viewing_the_buffer():
    host = PythonModule("host")
    seen = []

    @host.export("0r_i")
    def total(x):
        seen.append(x)
        x[0] = 100.0  # a view: writes reach the caller's buffer
        return int(x.sum())

    source = numpy.arange(4, dtype=numpy.float32)
    view = BufferView.from_array(source)
    assert await context_of(host).invoke("host.total", view) == (106,)
    (array,) = seen
    assert isinstance(array, numpy.ndarray)
    assert array.dtype == numpy.float32 and array.shape == (4,)
    assert numpy.shares_memory(array, view.to_array())
    assert view.to_array()[0] == 100.0


async def test_array_result_becomes_a_buffer_view():
    host = PythonModule("host")
    made = []

    @host.export("0r_r")
    def double(x):
        result = numpy.ascontiguousarray(x * 2)
        made.append(result)
        return result

    view = BufferView.from_array(numpy.arange(6, dtype=numpy.int32).reshape(2, 3))
    (result,) = await context_of(host).invoke("host.double", view)
    assert isinstance(result, BufferView)
    assert result.shape == (2, 3)
    numpy.testing.assert_array_equal(result.to_array(), [[0, 2, 4], [6, 8, 10]])


async def test_raw_export_gets_and_returns_buffer_views():
    host = PythonModule("host")

    @host.export("0r_r", raw=True)
    def same(view):
        assert isinstance(view, BufferView)
        return view

    @host.export("0r_r", raw=True)
    def array(view):
        return view.to_array()

    view = BufferView.from_array(numpy.ones(3, dtype=numpy.float32))
    context = context_of(host)
    assert await context.invoke("host.same", view) == (view,)
    error = await invoke_failing(context, "host.array", view)
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert "host.array result 0" in error.message and "ndarray" in error.message
    # raw is not a reflection attribute
    assert context.lookup_function("host.same").attributes == {}


async def test_span_of_buffer_views_is_a_list_of_arrays():
    host = PythonModule("host")

    @host.export("0CrD_f")
    def total(arrays):
        assert all(isinstance(array, numpy.ndarray) for array in arrays)
        return sum(float(array.sum()) for array in arrays)

    views = [BufferView.from_array(numpy.full(2, value, dtype=numpy.float32)) for value in (1, 2)]
    assert await context_of(host).invoke("host.total", views) == (6.0,)


async def test_compiled_program_calls_a_numpy_export(tmp_path, compile_mlir):
    path = tmp_path / "tensor_import.mlir"
    path.write_text(TENSOR_IMPORT)
    host = PythonModule("host")
    calls = []

    @host.export("0r_r")
    def scale(x):
        calls.append(type(x))
        return x * 10

    program = asyncvm.load(compile_mlir(path), modules=[host])
    x = numpy.array([1, 2, 3, 4], dtype=numpy.float32)
    (result,) = await program.invoke("run", x)
    numpy.testing.assert_array_equal(result, x * 11)
    assert calls == [numpy.ndarray]


# -- results checked against the calling convention -------------------------------------


CONVENTIONS = dict(as_i32="0v_i", as_i64="0v_I", as_f32="0v_f", as_f64="0v_F", as_ref="0v_r")


def returning(export: str, value) -> Context:
    """A context whose ``host.<export>`` returns ``value`` (HAL types registered)."""
    host = PythonModule("host")
    host.export(CONVENTIONS[export], name=export)(lambda: value)
    return context_of(host)


@pytest.mark.parametrize("export, value, fragment", [
    ("as_i32", "seven", "expected an integer (i32), got str"),
    ("as_i32", 1.0, "expected an integer (i32), got float"),
    ("as_i32", numpy.float64(1.0), "expected an integer (i32), got float64"),
    ("as_i32", None, "expected an integer (i32), got NoneType"),
    ("as_i32", 2**32, "does not fit in i32"),
    ("as_i32", -2**31 - 1, "does not fit in i32"),
    ("as_i64", 2**64, "does not fit in i64"),
    ("as_f32", "zz", "expected a number (f32), got str"),
    ("as_f32", "1.5", "expected a number (f32), got str"),
    ("as_f64", None, "expected a number (f64), got NoneType"),
    ("as_f64", 1j, "expected a number (f64), got complex"),
    ("as_ref", object(), "not a registered ref type"),
    ("as_ref", "text", "not a registered ref type"),
    ("as_ref", 3, "not a registered ref type"),
])
async def test_wrong_result_type_is_invalid_argument(export, value, fragment):
    error = await invoke_failing(returning(export, value), f"host.{export}")
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert error.message.startswith(f"host.{export} result 0: ")
    assert fragment in error.message


GOOD_RESULTS = [
    ("as_i32", True, 1),
    ("as_i32", numpy.int32(-5), -5),
    ("as_i32", numpy.uint32(0xFFFFFFFF), -1),
    ("as_i32", 0xFFFFFFFF, -1),
    ("as_i32", 2**31, -2**31),
    ("as_i64", numpy.int64(2**40), 2**40),
    ("as_i64", 2**64 - 1, -1),
    ("as_f32", 0.1, round_f32(0.1)),
    ("as_f32", 3, 3.0),
    ("as_f32", numpy.float32(0.5), 0.5),
    ("as_f64", numpy.float64(0.1), 0.1),
    ("as_f64", numpy.int16(7), 7.0),
    ("as_ref", None, None),
]


@pytest.mark.parametrize("export, value, expected", GOOD_RESULTS)
async def test_results_are_converted_as_the_shims_would(export, value, expected):
    (result,) = await returning(export, value).invoke(f"host.{export}")
    assert result == expected and type(result) is type(expected)


async def test_refs_the_context_knows_pass_unchanged():
    view = BufferView.from_array(numpy.zeros(2, dtype=numpy.int8))
    buffer = VMBuffer(16)
    for value in (view, buffer, view.buffer):
        assert await returning("as_ref", value).invoke("host.as_ref") == (value,)


async def test_ref_types_registered_later_are_known():
    # The host is registered before the HAL: BufferView is not known yet when
    # the host's state is made, but is by the time it is called.
    host = PythonModule("host")
    view = BufferView.from_array(numpy.zeros(2, dtype=numpy.int8))
    host.export("0v_r", name="view", raw=True)(lambda: view)
    context = Context(modules=[host, HalModule()])
    assert await context.invoke("host.view") == (view,)


@pytest.mark.parametrize("convention, value, fragment", [
    ("0v_ii", 1, "returned one int"),
    ("0v_ii", (1, 2, 3), "returned 3 values"),
    ("0v_ii", None, "returned None"),
    ("0v_i", (1, 2), "returned 2 values"),
    ("0v_v", 5, "returned one int"),
    ("0v_r", (None, None), "returned 2 values"),
    ("0v_v", (1,), "returned 1 values"),
])
async def test_wrong_result_count_is_invalid_argument(convention, value, fragment):
    host = PythonModule("host")
    host.export(convention, name="f")(lambda: value)
    error = await invoke_failing(Context(modules=[host]), "host.f")
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert "host.f returned" in error.message and fragment in error.message
    assert convention in error.message


async def test_multiple_results_from_a_list_or_tuple():
    host = PythonModule("host")
    host.export("0v_if", name="pair")(lambda: [numpy.int8(3), 2])
    host.export("0v_if", name="tuple")(lambda: (True, numpy.float32(0.25)))
    context = Context(modules=[host])
    assert await context.invoke("host.pair") == (3, 2.0)
    assert await context.invoke("host.tuple") == (1, 0.25)


async def test_async_export_results_are_checked():
    host = PythonModule("host")

    @host.export("0i_i")
    async def fetch(key):
        await anyio.sleep(0)
        return str(key)

    error = await invoke_failing(Context(modules=[host]), "host.fetch", 1)
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert "host.fetch result 0" in error.message


async def test_bad_result_to_a_bytecode_caller_never_reaches_its_registers(library, user):
    host = PythonModule("host")

    @host.export("0i_i")
    def fetch(key):
        return "not a number"

    program = asyncvm.load(user, modules=[library, host])
    with pytest.raises(VMError) as caught:
        await program.invoke("fetch_sum", 2)
    error = caught.value
    assert error.status == StatusCode.INVALID_ARGUMENT
    assert "host.fetch result 0" in error.message
    assert error.location.module == "user" and error.location.function == "fetch_sum"


# -- failures name the export -----------------------------------------------------------


async def test_exception_in_an_export_names_it(library, user):
    host = PythonModule("host")

    @host.export("0i_i")
    def fetch(key):
        return {}[key]

    program = asyncvm.load(user, modules=[library, host])
    with pytest.raises(VMError) as caught:
        await program.invoke("fetch_sum", 1)
    error = caught.value
    assert error.status == StatusCode.INTERNAL
    assert error.message == "host.fetch raised KeyError: 0"
    assert isinstance(error.__cause__, KeyError)
    assert error.location.module == "user" and error.location.function == "fetch_sum"


async def test_exception_in_an_async_export_names_it(library, user):
    host = PythonModule("host")

    @host.export("0i_i")
    async def fetch(key):
        await anyio.sleep(0)
        raise ValueError("no such key")

    program = asyncvm.load(user, modules=[library, host])
    with pytest.raises(VMError) as caught:
        await program.invoke("fetch_sum", 1)
    error = caught.value
    assert error.status == StatusCode.INTERNAL
    assert error.message == "host.fetch raised ValueError: no such key"
    assert error.location.function == "fetch_sum"
    # The context is still usable.
    assert await program.invoke("sum3", 1, 2, 3) == (6,)


async def test_exception_in_an_awaitable_returned_by_a_sync_export_names_it():
    host = PythonModule("host")

    async def later():
        await anyio.sleep(0)
        raise LookupError("gone")

    host.export("0v_i", name="deferred")(lambda: later())
    error = await invoke_failing(Context(modules=[host]), "host.deferred")
    assert error.status == StatusCode.INTERNAL
    assert error.message == "host.deferred raised LookupError: gone"


async def test_vm_error_keeps_its_status_and_message():
    host = PythonModule("host")

    @host.export("0v_v")
    def refuse():
        raise VMError(StatusCode.PERMISSION_DENIED, "not you")

    error = await invoke_failing(Context(modules=[host]), "host.refuse")
    assert error.status == StatusCode.PERMISSION_DENIED and error.message == "not you"


async def test_recursion_in_an_export_is_resource_exhausted():
    host = PythonModule("host")

    def deep(n):
        return deep(n + 1)

    host.export("0v_i", name="deep")(lambda: deep(0))
    error = await invoke_failing(Context(modules=[host]), "host.deep")
    assert error.status == StatusCode.RESOURCE_EXHAUSTED
    assert error.message.startswith("host.deep: host stack exhausted")


async def test_native_module_exceptions_name_the_export_too():
    native = NativeModule("native")

    @native.export("0i_i", name="ratio.inverse")
    def inverse(x):
        return 1 // x

    context = Context(modules=[native])
    assert await context.invoke("native.ratio.inverse", 1) == (1,)
    error = await invoke_failing(context, "native.ratio.inverse", 0)
    assert error.status == StatusCode.INTERNAL
    assert error.message == "native.ratio.inverse raised ZeroDivisionError: " \
                            "integer division or modulo by zero"
