"""Unit tests of the core value types: buffers, lists, calling conventions."""

from __future__ import annotations

import pytest

from asyncvm.vm import (Span, StatusCode, TypeInfo, ValueKind, VMBuffer, VMError, VMList,
                        parse_calling_convention)


def test_calling_convention_with_spans():
    convention = parse_calling_convention("0rCiID_f")
    assert convention.arguments == (ValueKind.REF, Span((ValueKind.I32, ValueKind.I64)))
    assert convention.results == (ValueKind.F32,)
    assert str(convention) == "0rCiID_f"
    assert parse_calling_convention("0v_v").arguments == ()


@pytest.mark.parametrize("text", ["", "1i_i", "0x_i", "0Ci_v", "0iCxD_v"])
def test_bad_calling_conventions(text):
    with pytest.raises(VMError) as caught:
        parse_calling_convention(text)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


def test_buffer_element_access_and_bounds():
    buffer = VMBuffer(16)
    buffer.store(4, 1, -2)
    assert buffer.load(4, 1) == 0xFFFFFFFE
    assert buffer.load(4, 1, signed=True) == -2
    assert buffer.load(1, 4) == 0xFE
    buffer.store_float(8, 1, 2.5)
    assert buffer.load_float(8, 1) == 2.5
    for offset in (-1, 4, 2**62, -(2**63)):
        with pytest.raises(VMError) as caught:
            buffer.load(4, offset)
        assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        buffer.copy_to(8, buffer, 12, 8)
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        buffer.fill(4, 2**61, 2, b"\0\0\0\0")
    assert caught.value.status == StatusCode.OUT_OF_RANGE


def test_readonly_buffer_rejects_writes():
    buffer = VMBuffer.wrap(b"\x01\x02\x03\x04")
    assert buffer.readonly and buffer.load(2, 1) == 0x0403
    with pytest.raises(VMError) as caught:
        buffer.store(1, 0, 7)
    assert caught.value.status == StatusCode.PERMISSION_DENIED


def test_typed_list_converts_and_checks():
    values = VMList(TypeInfo("i32", ValueKind.I32))
    values.resize(3)
    values.set_value(1, 2**31, ValueKind.I64)
    assert values.get_value(1, ValueKind.I32) == -(2**31)
    assert list(values) == [0, -(2**31), 0]
    with pytest.raises(VMError) as caught:
        values.get_value(3, ValueKind.I32)
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        values.get_value(-1, ValueKind.I32)
    assert caught.value.status == StatusCode.OUT_OF_RANGE
    with pytest.raises(VMError) as caught:
        values.set_ref(0, VMBuffer(1))
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    # Between integers and floats IREE's lists answer 0 rather than fail.
    values.set_value(2, 2.5, ValueKind.F32)
    assert values.get_value(2, ValueKind.I32) == 0
    assert values.get_value(1, ValueKind.F32) == 0.0


def test_variant_list_holds_refs_and_values():
    items = VMList()
    items.resize(2)
    buffer = VMBuffer(4)
    items.set_ref(0, buffer)
    items.set_value(1, 1.5, ValueKind.F32)
    assert items.get_ref(0) is buffer
    assert items.get_value(1, ValueKind.F32) == 1.5
    # A ref of another type reads as null, as IREE's vm.list.get.ref does.
    assert items.get_ref(0, TypeInfo("!vm.list<?>", ValueKind.REF, VMList)) is None
    with pytest.raises(VMError):
        items.resize(-1)


def test_address_of_reads_every_array_kind_as_numpy_does():
    """address_of reads an ndarray's data pointer directly (no buffer
    protocol, which leaves a cached record on the array); views, negative
    strides, subclasses, read-only and ml_dtypes arrays all give numpy's own
    address, and other buffer objects still work."""
    import ml_dtypes
    import numpy

    from asyncvm.vm import address_of

    base = numpy.arange(24, dtype=numpy.float32).reshape(4, 6)
    read_only = base.copy()
    read_only.flags.writeable = False

    class Tagged(numpy.ndarray):
        pass

    for array in (base, base[1:], base[:, 2:], base[::-1, ::-2], base.T, read_only,
                  base.view(Tagged), numpy.zeros(3, ml_dtypes.bfloat16), numpy.float32(3)[()],
                  numpy.empty(0)):
        array = numpy.asarray(array) if not isinstance(array, numpy.ndarray) else array
        assert address_of(array) == array.__array_interface__["data"][0]
    data = bytearray(b"abcd")
    assert address_of(memoryview(data)[1:]) == address_of(data) + 1
