"""HAL conformance: buffers, subspans, fills, copies and buffer views over numpy."""

from __future__ import annotations

import numpy
import pytest

from asyncvm.vm import StatusCode, VMError
from asyncvm.hal._buffer import Buffer
from asyncvm.vm import ALLOCATION_ALIGNMENT
from asyncvm.hal._buffer_view import BufferView
from asyncvm.hal._element_type import ElementType


def test_allocation_is_zeroed_and_aligned():
    buffer = Buffer.allocate(100)
    assert len(buffer) == 100
    assert buffer.bytes_view().ctypes.data % ALLOCATION_ALIGNMENT == 0
    assert not buffer.bytes_view().any()


@pytest.mark.parametrize("length", [0, 1, 16, 63, 64, 100])
def test_device_allocations_and_small_inputs_are_aligned_ranges_of_a_block(length):
    """An allocation (and a small input's copy) is the aligned range of a
    slightly larger block: its views start on the boundary, hold exactly its
    bytes, and writes through one never reach past it."""
    from asyncvm.vm import aligned_block
    block, start = aligned_block(length, zeroed=False)
    assert (block.ctypes.data + start) % ALLOCATION_ALIGNMENT == 0
    assert start + length <= block.shape[0]
    buffer = Buffer.allocate(length)
    assert buffer.length == length and buffer.bytes_view().shape == (length,)
    assert (buffer.storage.ctypes.data + buffer.offset) % ALLOCATION_ALIGNMENT == 0
    assert not buffer.bytes_view().any()
    padding = buffer.storage.copy()
    buffer.fill(0, -1, b"\xff")
    changed = numpy.flatnonzero(buffer.storage != padding)
    assert changed.tolist() == list(range(buffer.offset, buffer.offset + length))
    values = numpy.arange(length, dtype=numpy.uint8)
    view = BufferView.from_array(values, protect=True)
    copy = view.to_array()
    assert copy.tolist() == values.tolist() and not numpy.shares_memory(copy, values)
    storage = view.buffer.storage
    assert view.buffer.length == length
    assert (storage.ctypes.data + view.buffer.offset) % ALLOCATION_ALIGNMENT == 0
    assert copy.flags.writeable


def test_allocation_beyond_any_memory_is_resource_exhausted():
    from asyncvm.vm import aligned_block
    for length in (-1, 1 << 41):
        with pytest.raises(VMError) as caught:
            aligned_block(length)
        assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED


def copy_sources() -> list[numpy.ndarray]:
    """Arrays of every layout an input may have: C-contiguous, strided,
    reversed, 0-d, empty, Fortran order, a bf16 and a structured type."""
    import ml_dtypes
    grid = numpy.arange(24, dtype=numpy.int64).reshape(4, 6)
    return [numpy.arange(4, dtype=numpy.float32), grid, grid[:, ::2], grid.T,
            numpy.arange(10, dtype=numpy.int8)[::-1], numpy.array(3.5), numpy.zeros((0, 3)),
            numpy.asfortranarray(grid), numpy.arange(5).astype(ml_dtypes.bfloat16),
            numpy.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
            numpy.array([True, False, True])]


@pytest.mark.parametrize("native", [True, False], ids=["native", "numpy"])
def test_aligned_copy_holds_the_elements_in_c_order_on_the_boundary(native, monkeypatch):
    """With the C helper and without it (the fallback), a copy of any layout
    is the array's elements in C order at an aligned start of a new block."""
    from asyncvm.vm import _aligned_memory, aligned_copy
    if native and _aligned_memory._native_copied is None:
        pytest.skip("asyncvm.vm._aligned_blocks was not built")
    if not native:
        monkeypatch.setattr(_aligned_memory, "_native_copied", None)
        monkeypatch.setattr(_aligned_memory, "_native_block", None)
    for array in copy_sources():
        block, start = aligned_copy(array)
        assert block.dtype == numpy.uint8 and block.ndim == 1
        assert (block.ctypes.data + start) % ALLOCATION_ALIGNMENT == 0
        assert start + array.nbytes <= block.shape[0]
        copy = numpy.ndarray(array.shape, array.dtype, block, start)
        assert copy.tobytes() == array.tobytes(), array.dtype
        assert not numpy.shares_memory(block, array)
    with pytest.raises(VMError) as caught:
        aligned_copy(numpy.array([1, "a"], dtype=object))
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_native_blocks_refuse_what_they_cannot_copy():
    """The C helper copies plain C-contiguous arrays only, and reports bad
    lengths as Python errors (which aligned_block turns into VMErrors)."""
    blocks = pytest.importorskip("asyncvm.vm._aligned_blocks")

    class Subclass(numpy.ndarray):
        pass

    for other in (numpy.array([1, "a"], dtype=object), numpy.zeros(2, dtype=[("a", "<i4")]),
                  numpy.arange(8.0)[::2], [1.0, 2.0], b"abcd",
                  numpy.arange(2.0).view(Subclass)):
        assert blocks.copied(other, 8) is None
    with pytest.raises(ValueError):
        blocks.block(-1, False)
    with pytest.raises(MemoryError):
        blocks.block(1 << 60, False)
    with pytest.raises(TypeError):
        blocks.block("16", False)
    with pytest.raises(TypeError):
        blocks.copied(numpy.arange(2.0))
    block, start = blocks.block(numpy.int64(100), True)  # any integer with __index__
    assert not block.any() and block.shape == (164,)
    assert (block.ctypes.data + start) % ALLOCATION_ALIGNMENT == 0


def test_subspans_share_memory_and_check_ranges():
    buffer = Buffer.allocate(16)
    span = buffer.subspan(4, 8)
    span.fill(0, -1, b"\x01\x02")
    assert list(buffer.bytes_view()) == [0] * 4 + [1, 2] * 4 + [0] * 4
    for offset, length in ((-1, 4), (12, 8), (0, 2**63), (17, -1)):
        with pytest.raises(VMError) as caught:
            buffer.subspan(offset, length)
        assert caught.value.status == StatusCode.OUT_OF_RANGE


def test_whole_range_subspan_is_the_buffer_itself():
    """As iree_hal_buffer_subspan: asking for the whole range (by length or
    IREE_HAL_WHOLE_BUFFER) gives the buffer back; any other range a new one."""
    buffer = Buffer.allocate(16)
    assert buffer.subspan(0, 16) is buffer and buffer.subspan(0, -1) is buffer
    part = buffer.subspan(0, 8)
    assert part is not buffer and part.length == 8 and part.allocation is buffer.allocation
    assert part.subspan(0, 8) is part and part.subspan(4, 4).offset == buffer.offset + 4


def test_copy_and_fill_patterns():
    source = Buffer.wrap(numpy.arange(8, dtype=numpy.uint8))
    target = Buffer.allocate(8)
    source.copy_to(2, target, 0, 4)
    assert list(target.bytes_view()[:4]) == [2, 3, 4, 5]
    target.fill(0, 8, (0x01020304).to_bytes(4, "little"))
    assert list(target.array(numpy.uint32, (2,))) == [0x01020304] * 2
    with pytest.raises(VMError) as caught:
        target.fill(0, 6, b"\0\0\0\0")
    assert caught.value.status == StatusCode.INVALID_ARGUMENT
    with pytest.raises(VMError) as caught:
        source.copy_to(6, target, 0, 4)
    assert caught.value.status == StatusCode.OUT_OF_RANGE


def aligned_array(values: numpy.ndarray) -> numpy.ndarray:
    """A copy of ``values`` whose data starts on a 64-byte boundary."""
    raw = numpy.empty(values.nbytes + ALLOCATION_ALIGNMENT, dtype=numpy.uint8)
    start = (-raw.__array_interface__["data"][0]) % ALLOCATION_ALIGNMENT
    array = raw[start:start + values.nbytes].view(values.dtype).reshape(values.shape)
    array[...] = values
    return array


def test_buffer_view_round_trips_numpy_without_copying():
    array = aligned_array(numpy.arange(12, dtype=numpy.int32).reshape(3, 4))
    view = BufferView.from_array(array)
    assert view.shape == (3, 4) and view.element_type.name == "i32"
    assert numpy.shares_memory(view.to_array(), array)


def test_misaligned_or_strided_arrays_are_copied_once_into_aligned_memory():
    array = aligned_array(numpy.arange(13, dtype=numpy.int32))
    misaligned = array[1:]
    view = BufferView.from_array(misaligned)
    assert not numpy.shares_memory(view.to_array(), misaligned)
    assert view.buffer.bytes_view().ctypes.data % ALLOCATION_ALIGNMENT == 0
    assert view.to_array().tolist() == list(range(1, 13))
    strided = BufferView.from_array(array[:12].reshape(3, 4)[:, ::2])
    assert strided.to_array().tolist() == array[:12].reshape(3, 4)[:, ::2].tolist()


def test_buffer_view_too_large_for_buffer():
    with pytest.raises(VMError) as caught:
        BufferView(Buffer.allocate(8), (3,), ElementType.parse("f32"))
    assert caught.value.status == StatusCode.OUT_OF_RANGE


@pytest.mark.parametrize("name, dtype, value", [
    ("i8", numpy.int8, 0x10000008), ("ui16", numpy.uint16, 0x12000010),
    ("i32", numpy.int32, 0x10000020), ("si64", numpy.int64, 0x11000040),
    ("f16", numpy.float16, 0x21000010), ("f32", numpy.float32, 0x21000020),
    ("f64", numpy.float64, 0x21000040), ("i1", numpy.bool_, 0x13000008),
])
def test_element_types_use_iree_numbering(name, dtype, value):
    element = ElementType.parse(name)
    assert int(element) == value and element.dtype == numpy.dtype(dtype)


def test_unknown_element_type():
    with pytest.raises(VMError) as caught:
        ElementType.parse("f7")
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_aligned_array_is_passed_without_copying():
    from asyncvm.vm import aligned_array
    array = aligned_array(numpy.arange(10), numpy.float32)
    assert array.__array_interface__["data"][0] % ALLOCATION_ALIGNMENT == 0
    assert array.dtype == numpy.float32 and array.tolist() == list(range(10))
    assert numpy.shares_memory(BufferView.from_array(array).to_array(), array)
