"""``vm.list.get.ref`` of an element of another ref type gives null.

IREE (``runtime/src/iree/vm/list.c`` ``iree_vm_list_get_ref_retain_or_move``
and the ``ListGetRef`` op in ``runtime/src/iree/vm/bytecode/dispatch.c``):

* an index outside ``[0, size)`` is OUT_OF_RANGE;
* a list of primitives, or a primitive element of a variant list, is
  FAILED_PRECONDITION;
* a null element reads as null;
* an element whose ref type is not exactly the op's result type reads as
  null, and stays in the list. Every ``!vm.list<...>`` is the one list ref
  type (a ``!vm.list<i8>`` read finds any list), while ``!vm.ref<?>``
  (``!vm.opaque``) has no ref type of its own and so finds nothing.

tests/programs/list_refs.mlir is compared with IREE's runtime call by call.
"""

from __future__ import annotations

import pytest

import asyncvm
from asyncvm.vm import StatusCode, TypeInfo, ValueKind, VMBuffer, VMError, VMList

# The variant list every function reads: [buffer, list<i32>[3], i32 7, null, list<?>[]]
ELEMENTS = range(-1, 7)
CASES = {
    "as_i8_list": [(i,) for i in ELEMENTS],
    "as_buffer": [(i,) for i in ELEMENTS],
    "size_as_i32_list": [(i,) for i in ELEMENTS],
    "as_any_ref": [(i,) for i in ELEMENTS],
    "mismatch_then_match": [()],
}
EXPECTED = {
    "as_i8_list": [0, 1, None, 0, 1],
    "as_buffer": [1, 0, None, 0, 0],
    "size_as_i32_list": [-1, 3, None, -1, 0],
    "as_any_ref": [0, 0, None, 0, 0],
}


@pytest.fixture(scope="module")
def list_refs(compile_mlir):
    return compile_mlir("list_refs.mlir", mode="vm")


@pytest.mark.anyio
@pytest.mark.parametrize("function", sorted(CASES))
async def test_get_ref_matches_iree(list_refs, differential_cases, function):
    assert await differential_cases(list_refs, function, CASES[function]) == len(CASES[function])


@pytest.mark.anyio
@pytest.mark.parametrize("function", sorted(EXPECTED))
async def test_get_ref_hand_computed(list_refs, function):
    program = asyncvm.load(list_refs)
    for index, expected in enumerate(EXPECTED[function]):
        if expected is None:
            with pytest.raises(VMError) as caught:
                await program.invoke(function, index)
            assert caught.value.status == StatusCode.FAILED_PRECONDITION
            assert f"list_refs.{function}" in str(caught.value)
        else:
            assert await program.invoke(function, index) == (expected,), index
    for index in (-1, 5, 6):
        with pytest.raises(VMError) as caught:
            await program.invoke(function, index)
        assert caught.value.status == StatusCode.OUT_OF_RANGE


@pytest.mark.anyio
async def test_a_mismatched_read_leaves_the_element(list_refs):
    program = asyncvm.load(list_refs)
    assert await program.invoke("mismatch_then_match") == (1,)  # 10 * null + buffer


# -- the list operation itself -----------------------------------------------------------

BUFFER = TypeInfo("!vm.buffer", ValueKind.REF, VMBuffer)
I8_LIST = TypeInfo("!vm.list<i8>", ValueKind.REF, VMList, TypeInfo("i8", ValueKind.I32))
OPAQUE = TypeInfo("!vm.opaque", ValueKind.REF)


def variant_list() -> tuple[VMList, VMBuffer, VMList]:
    items = VMList()
    items.resize(4)
    buffer, inner = VMBuffer(4), VMList(TypeInfo("i32", ValueKind.I32))
    items.set_ref(0, buffer)
    items.set_ref(1, inner)
    items.set_value(2, 7, ValueKind.I32)
    return items, buffer, inner


def test_a_ref_of_another_type_reads_as_none():
    items, buffer, inner = variant_list()
    assert items.get_ref(0, I8_LIST) is None
    assert items.get_ref(0, BUFFER) is buffer  # still there
    assert items.get_ref(1, BUFFER) is None
    assert items.get_ref(1, I8_LIST) is inner  # any list is a list
    assert items.get_ref(0, OPAQUE) is None and items.get_ref(1, OPAQUE) is None
    assert items.get_ref(0, TypeInfo("i32", ValueKind.I32)) is None
    assert items.get_ref(3, BUFFER) is None
    assert items.get_ref(0) is buffer and items.get_ref(3) is None  # untyped host read


def test_a_typed_ref_list_reads_other_types_as_none():
    buffers = VMList(BUFFER)
    buffers.resize(2)
    buffers.set_ref(0, VMBuffer(1))
    assert buffers.get_ref(0, I8_LIST) is None
    assert buffers.get_ref(1, BUFFER) is None
    assert isinstance(buffers.get_ref(0, BUFFER), VMBuffer)


@pytest.mark.parametrize("index", [-1, 4, 1 << 31])
def test_an_index_out_of_range_is_out_of_range(index):
    items, _, _ = variant_list()
    with pytest.raises(VMError) as caught:
        items.get_ref(index, BUFFER)
    assert caught.value.status == StatusCode.OUT_OF_RANGE


def test_primitives_are_failed_precondition():
    items, _, _ = variant_list()
    with pytest.raises(VMError) as caught:
        items.get_ref(2, BUFFER)
    assert caught.value.status == StatusCode.FAILED_PRECONDITION
    values = VMList(TypeInfo("i32", ValueKind.I32))
    values.resize(1)
    for type_info in (BUFFER, None):
        with pytest.raises(VMError) as caught:
            values.get_ref(0, type_info)
        assert caught.value.status == StatusCode.FAILED_PRECONDITION
        assert "does not store refs" in caught.value.message
