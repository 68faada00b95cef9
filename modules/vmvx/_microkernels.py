"""The ``vmvx`` module: microkernels that VMVX kernels import, in numpy.

Builds made with ``--iree-vmvx-enable-microkernels`` (and
``--iree-opt-data-tiling``) call these instead of looping element by
element in bytecode. Every export is a module-level function listed once, in
:data:`VMVX_EXPORTS`, one table sorted by name as IREE writes
``runtime/src/iree/modules/vmvx/exports.inl``, with the names and calling
conventions of the compiler's ``vmvx.imports.mlir`` (IREE 3.13).

The element-wise kernels ``<operation>.2d.<type>`` all have one of two
shapes, binary (:func:`elementwise_binary_2d`) or unary
(:func:`elementwise_unary_2d`); their rows bind the operation, and the
element type named by the export's suffix, to one of those two functions.

Contract shared by every export:

* Every buffer argument is a ``vm.buffer`` (a binding view or scratch);
  offsets and strides are in elements of the operation's type.
* A null buffer is INVALID_ARGUMENT naming the operand; a window that does
  not fit in its buffer is OUT_OF_RANGE naming the operand (IREE's check);
  a read-only output is PERMISSION_DENIED.
* Integer arithmetic wraps; integer division by zero is INVALID_ARGUMENT;
  unhandled ``flags`` of ``mmt4d``, ``pack`` and ``unpack`` are
  INVALID_ARGUMENT.
* No export suspends: each runs synchronously on the dispatching thread
  (numpy releases the GIL inside the heavy kernels).
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy
from numpy.lib.stride_tricks import as_strided

from asyncvm.vm import Export, NativeModule, StatusCode, VMBuffer, VMError, export_table

_FLOAT32 = numpy.dtype(numpy.float32)
_INT8 = numpy.dtype(numpy.int8)
_INT32 = numpy.dtype(numpy.int32)
_ELEMENT_TYPES = {"f32": _FLOAT32, "i32": _INT32, "x8": numpy.dtype(numpy.uint8),
                  "x16": numpy.dtype(numpy.uint16), "x32": numpy.dtype(numpy.uint32),
                  "x64": numpy.dtype(numpy.uint64)}
"""Element types by the suffix of an element-wise export's name (``x``: bits only)."""

_ACCUMULATE = 0x100
"""``mmt4d`` flag: add the product to the output instead of overwriting it."""
_TRANSPOSE_INNER = 0x100
"""``pack``/``unpack`` flag: the tiles are transposed."""
_TRANSPOSE_OUTER = 0x200
"""``pack``/``unpack`` flag: the grid of tiles is transposed."""
_MMT4D_TYPES = {0x01: (_FLOAT32, _FLOAT32), 0x02: (_INT8, _INT32)}
"""``mmt4d``: (input, output) element types by the low byte of ``flags``."""
_PACK_TYPES = {0x01: _FLOAT32, 0x02: _INT8, 0x03: _INT32}
_UNPACK_TYPES = {0x01: _FLOAT32, 0x03: _INT32}
_TILE_SIZES_BY_ROLE = {1: (8, 4), 2: (8, 4), 3: (8, 8)}
"""``query_tile_sizes.2d``: IREE's generic tiles by operand role (low byte of flags)."""


# -- operands -------------------------------------------------------------------------------

def _array(buffer: VMBuffer, element_type: numpy.dtype, operand: str,
           writable: bool) -> numpy.ndarray:
    """The whole buffer as a flat array of ``element_type`` (no copy)."""
    if not isinstance(buffer, VMBuffer):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{operand} buffer is null")
    if writable and buffer.readonly:
        raise VMError(StatusCode.PERMISSION_DENIED, f"{operand} buffer is read-only")
    raw = numpy.asarray(buffer.memory) if not buffer.readonly else \
        numpy.frombuffer(buffer.memory, dtype=numpy.uint8)
    usable = len(raw) - len(raw) % element_type.itemsize
    return raw[:usable].view(element_type)


def _strided_view(buffer, offset, stride0, stride1, size0, size1, element_type, operand,
                  writable=False) -> numpy.ndarray:
    """A ``size0`` x ``size1`` strided view of ``buffer`` (no copy), after
    IREE's bounds check: INVALID_ARGUMENT (null), PERMISSION_DENIED
    (``writable`` but read-only) or OUT_OF_RANGE (the window does not fit)."""
    flat = _array(buffer, element_type, operand, writable)
    if size0 <= 0 or size1 <= 0:
        return numpy.empty((max(size0, 0), max(size1, 0)), element_type)
    last = offset + (size0 - 1) * stride0 + (size1 - 1) * stride1
    if offset < 0 or stride0 < 0 or stride1 < 0 or last >= flat.shape[0]:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"out-of-bounds access detected in {operand} (offset={offset}, "
                      f"strides=({stride0}, {stride1}), sizes=({size0}, {size1}), "
                      f"buffer length={len(buffer)})")
    item = element_type.itemsize
    return as_strided(flat[offset:], shape=(size0, size1),
                      strides=(stride0 * item, stride1 * item), writeable=writable)


def _lookup_flags(flags: int, table: dict, kernel: str):
    """``table[flags & 0xFF]``, or INVALID_ARGUMENT naming the kernel."""
    entry = table.get(flags & 0xFF)
    if entry is None:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"unhandled flags 0x{flags:X} in {kernel}")
    return entry


# -- element-wise operations ----------------------------------------------------------------

def _divide_signed(left, right):
    """Signed i32 division rounding toward zero; INVALID_ARGUMENT on a zero divisor."""
    if (right == 0).any():
        raise VMError(StatusCode.INVALID_ARGUMENT, "integer division by zero in vmvx.divs")
    quotient = numpy.abs(left.astype(numpy.int64)) // numpy.abs(right.astype(numpy.int64))
    return numpy.where((left < 0) != (right < 0), -quotient, quotient).astype(numpy.int32)


def _divide_unsigned(left, right):
    """Unsigned i32 division; INVALID_ARGUMENT on a zero divisor."""
    if (right == 0).any():
        raise VMError(StatusCode.INVALID_ARGUMENT, "integer division by zero in vmvx.divu")
    return (left.view(numpy.uint32) // right.view(numpy.uint32)).view(numpy.int32)


def _shift_left(values, amounts):
    return numpy.left_shift(values, amounts & 31)


def _shift_right_signed(values, amounts):
    return numpy.right_shift(values, amounts & 31)


def _shift_right_unsigned(values, amounts):
    return numpy.right_shift(values.view(numpy.uint32),
                             (amounts & 31).view(numpy.uint32)).view(numpy.int32)


def _count_leading_zeros(values):
    unsigned = values.view(numpy.uint32).astype(numpy.uint64)
    result = numpy.full(unsigned.shape, 32, dtype=numpy.int32)
    nonzero = unsigned != 0
    result[nonzero] = 31 - numpy.floor(numpy.log2(unsigned[nonzero])).astype(numpy.int32)
    return result


def _reciprocal_square_root(values):
    return numpy.float32(1) / numpy.sqrt(values)


def _copy(values):
    return values


# -- exports --------------------------------------------------------------------------------

def elementwise_binary_2d(element_type: numpy.dtype, operation: Callable,
                          lhs_buffer, lhs_offset, lhs_stride0, lhs_stride1,
                          rhs_buffer, rhs_offset, rhs_stride0, rhs_stride1,
                          out_buffer, out_offset, out_stride0, out_stride1, size0, size1) -> None:
    """``out = operation(lhs, rhs)`` element by element over ``size0`` x
    ``size1`` strided windows (``<operation>.2d.<type>``, convention
    ``0rIIIrIIIrIIIII_v``). Errors as in the module's contract; does not
    suspend."""
    lhs = _strided_view(lhs_buffer, lhs_offset, lhs_stride0, lhs_stride1, size0, size1,
                        element_type, "lhs")
    rhs = _strided_view(rhs_buffer, rhs_offset, rhs_stride0, rhs_stride1, size0, size1,
                        element_type, "rhs")
    out = _strided_view(out_buffer, out_offset, out_stride0, out_stride1, size0, size1,
                        element_type, "out", writable=True)
    with numpy.errstate(all="ignore"):
        out[...] = operation(lhs, rhs)


def elementwise_unary_2d(element_type: numpy.dtype, operation: Callable,
                         in_buffer, in_offset, in_stride0, in_stride1,
                         out_buffer, out_offset, out_stride0, out_stride1, size0, size1) -> None:
    """``out = operation(in)`` element by element over ``size0`` x ``size1``
    strided windows (``<operation>.2d.<type>`` and ``copy.2d.x<bits>``,
    convention ``0rIIIrIIIII_v``). Errors as in the module's contract; does
    not suspend."""
    values = _strided_view(in_buffer, in_offset, in_stride0, in_stride1, size0, size1,
                           element_type, "in")
    out = _strided_view(out_buffer, out_offset, out_stride0, out_stride1, size0, size1,
                        element_type, "out", writable=True)
    with numpy.errstate(all="ignore"):
        out[...] = operation(values)


def fill_2d_x32(fill_value, out_buffer, out_offset, out_row_stride, size0, size1) -> None:
    """``fill.2d.x32``: stores the 32-bit ``fill_value`` in every element of a
    ``size0`` x ``size1`` window with unit column stride. INVALID_ARGUMENT
    (null), PERMISSION_DENIED (read-only) or OUT_OF_RANGE; does not suspend."""
    out = _strided_view(out_buffer, out_offset, out_row_stride, 1, size0, size1, _INT32, "out",
                        writable=True)
    out[...] = numpy.int32(fill_value)


def mmt4d(lhs_buffer, lhs_offset, lhs_row_stride, rhs_buffer, rhs_offset, rhs_row_stride,
          out_buffer, out_offset, out_row_stride, m, n, k, m0, n0, k0, flags) -> None:
    """``mmt4d``: ``out[i, j] (+)= sum over k of lhs[i, k] · rhs[j, k]ᵀ`` over
    tiled operands (lhs ``m x k`` tiles of ``m0 x k0``, rhs ``n x k`` tiles of
    ``n0 x k0``, out ``m x n`` tiles of ``m0 x n0``; each outer row is one
    buffer row). The low byte of ``flags`` picks f32·f32→f32 (1) or
    i8·i8→i32 (2, wrapping), anything else is INVALID_ARGUMENT; 0x100
    accumulates into ``out``. Bounds errors as in the module's contract;
    does not suspend."""
    input_type, output_type = _lookup_flags(flags, _MMT4D_TYPES, "mmt4d")
    if m <= 0 or n <= 0:
        return
    lhs = _strided_view(lhs_buffer, lhs_offset, lhs_row_stride, 1, m, k * m0 * k0, input_type,
                        "lhs").reshape(m, k, m0, k0)
    rhs = _strided_view(rhs_buffer, rhs_offset, rhs_row_stride, 1, n, k * n0 * k0, input_type,
                        "rhs").reshape(n, k, n0, k0)
    out = _strided_view(out_buffer, out_offset, out_row_stride, 1, m, n * m0 * n0, output_type,
                        "out", writable=True)
    multiply = _mmt4d_integer if output_type == _INT32 else _mmt4d_float
    out[...] = multiply(lhs, rhs, out.reshape(m, n, m0, n0) if flags & _ACCUMULATE else None)


def _mmt4d_integer(lhs, rhs, accumulator):
    """i8 tiles multiplied in i64, summed with ``accumulator`` (or not), wrapped to i32."""
    product = numpy.einsum("ikau,jkbu->ijab", lhs.astype(numpy.int64), rhs.astype(numpy.int64),
                           optimize=True)
    if accumulator is not None:
        product = product + accumulator
    return _tiles_as_rows((product & 0xFFFFFFFF).astype(numpy.uint32).view(numpy.int32))


def _mmt4d_float(lhs, rhs, accumulator):
    """f32 tiles accumulated in IREE's order (k, then k0), rounding to f32 at
    every step, so results match its generic microkernel bit for bit."""
    m, k, m0, k0 = lhs.shape
    n, _, n0, _ = rhs.shape
    result = numpy.zeros((m, n, m0, n0), dtype=numpy.float32)
    if accumulator is not None:
        result += accumulator
    with numpy.errstate(all="ignore"):
        for outer in range(k):
            for inner in range(k0):
                result += (lhs[:, outer, :, inner][:, None, :, None]
                           * rhs[:, outer, :, inner][None, :, None, :])
    return _tiles_as_rows(result)


def _tiles_as_rows(tiles):
    """An ``m x n x m0 x n0`` array as ``m`` rows of ``n * m0 * n0``."""
    m, n, m0, n0 = tiles.shape
    return tiles.reshape(m, n * m0 * n0)


def _transpose_tiles(tiles, flags):
    """Applies ``pack``/``unpack``'s outer and inner transposition flags to
    an ``outer0 x outer1 x tile0 x tile1`` array."""
    if flags & _TRANSPOSE_OUTER:
        tiles = tiles.transpose(1, 0, 2, 3)
    if flags & _TRANSPOSE_INNER:
        tiles = tiles.transpose(0, 1, 3, 2)
    return tiles


def _padding_pattern(padding_value: int, element_type: numpy.dtype):
    """The low bytes of the i64 ``padding_value`` as one ``element_type`` value."""
    width = element_type.itemsize
    raw = (padding_value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return numpy.frombuffer(raw, dtype=element_type)[0]


def pack(in_buffer, in_offset, in_stride0, in_stride1, out_buffer, out_offset, out_stride0,
         out_stride1, in_size0, in_size1, out_size0, out_size1, out_size2, out_size3,
         padding_value, flags) -> None:
    """``pack``: tiles an ``in_size0 x in_size1`` matrix into ``out_size0 x
    out_size1`` tiles of ``out_size2 x out_size3`` (each outer row one
    buffer row), padding with ``padding_value``'s bit pattern. The low byte
    of ``flags`` is the element type (1 f32, 2 i8, 3 i32; else
    INVALID_ARGUMENT); 0x100 transposes the tiles, 0x200 their grid. Bounds
    errors as in the module's contract; does not suspend."""
    element_type = _lookup_flags(flags, _PACK_TYPES, "pack")
    source = _strided_view(in_buffer, in_offset, in_stride0, in_stride1, in_size0, in_size1,
                           element_type, "in")
    outer = [out_size0, out_size1]
    tile = [out_size2, out_size3]
    if flags & _TRANSPOSE_OUTER:
        outer.reverse()
    if flags & _TRANSPOSE_INNER:
        tile.reverse()
    rows, columns = outer[0] * tile[0], outer[1] * tile[1]
    padded = numpy.full((rows, columns), _padding_pattern(padding_value, element_type),
                        dtype=element_type)
    padded[:in_size0, :in_size1] = source[:rows, :columns]
    tiles = padded.reshape(outer[0], tile[0], outer[1], tile[1]).transpose(0, 2, 1, 3)
    inner = out_size1 * out_size2 * out_size3
    out = _strided_view(out_buffer, out_offset, out_stride0, 1, out_size0, inner, element_type,
                        "out", writable=True)
    out[...] = _transpose_tiles(tiles, flags).reshape(out_size0, inner)


def unpack(in_buffer, in_offset, in_stride0, in_stride1, out_buffer, out_offset, out_stride0,
           out_stride1, in_size0, in_size1, in_size2, in_size3, out_size0, out_size1,
           flags) -> None:
    """``unpack``: the inverse of :func:`pack`: ``in_size0 x in_size1`` tiles
    of ``in_size2 x in_size3`` back into an ``out_size0 x out_size1`` matrix
    (padding dropped). The low byte of ``flags`` is the element type (1 f32,
    3 i32; else INVALID_ARGUMENT); 0x100 and 0x200 as for ``pack``. Bounds
    errors as in the module's contract; does not suspend."""
    element_type = _lookup_flags(flags, _UNPACK_TYPES, "unpack")
    inner = in_size1 * in_size2 * in_size3
    tiles = _strided_view(in_buffer, in_offset, in_stride0, 1, in_size0, inner, element_type,
                          "in").reshape(in_size0, in_size1, in_size2, in_size3)
    tiles = _transpose_tiles(tiles, flags)
    rows = tiles.shape[0] * tiles.shape[2]
    columns = tiles.shape[1] * tiles.shape[3]
    unpacked = tiles.transpose(0, 2, 1, 3).reshape(rows, columns)
    out = _strided_view(out_buffer, out_offset, out_stride0, out_stride1, out_size0, out_size1,
                        element_type, "out", writable=True)
    out[...] = unpacked[:out_size0, :out_size1]


def query_tile_sizes_2d(size0, size1, flags) -> tuple[int, int]:
    """``query_tile_sizes.2d``: the tile sizes the microkernels use for the
    operand role in the low byte of ``flags`` (IREE's generic tiles). Never
    fails; does not suspend."""
    return _TILE_SIZES_BY_ROLE.get(flags & 0xFF, (8, 8))


# -- the table ------------------------------------------------------------------------------

_BINARY_CONVENTION = "0rIIIrIIIrIIIII_v"
_UNARY_CONVENTION = "0rIIIrIIIII_v"


def _binary(name: str, operation: Callable) -> Export:
    """The row of element-wise binary kernel ``name`` (``<op>.2d.<type>``)."""
    element_type = _ELEMENT_TYPES[name.rsplit(".", 1)[1]]
    return Export(name, _BINARY_CONVENTION,
                  functools.partial(elementwise_binary_2d, element_type, operation))


def _unary(name: str, operation: Callable) -> Export:
    """The row of element-wise unary kernel ``name`` (``<op>.2d.<type>``)."""
    element_type = _ELEMENT_TYPES[name.rsplit(".", 1)[1]]
    return Export(name, _UNARY_CONVENTION,
                  functools.partial(elementwise_unary_2d, element_type, operation))


VMVX_EXPORTS = export_table("vmvx", [
    _unary("abs.2d.f32", numpy.abs),
    _binary("add.2d.f32", numpy.add),
    _binary("add.2d.i32", numpy.add),
    _binary("and.2d.i32", numpy.bitwise_and),
    _unary("ceil.2d.f32", numpy.ceil),
    _unary("copy.2d.x16", _copy),
    _unary("copy.2d.x32", _copy),
    _unary("copy.2d.x64", _copy),
    _unary("copy.2d.x8", _copy),
    _unary("ctlz.2d.i32", _count_leading_zeros),
    _binary("div.2d.f32", numpy.divide),
    _binary("divs.2d.i32", _divide_signed),
    _binary("divu.2d.i32", _divide_unsigned),
    _unary("exp.2d.f32", numpy.exp),
    Export("fill.2d.x32", "0irIIII_v", fill_2d_x32),
    _unary("floor.2d.f32", numpy.floor),
    _unary("log.2d.f32", numpy.log),
    Export("mmt4d", "0rIIrIIrIIIIIiiii_v", mmt4d),
    _binary("mul.2d.f32", numpy.multiply),
    _binary("mul.2d.i32", numpy.multiply),
    _unary("neg.2d.f32", numpy.negative),
    _binary("or.2d.i32", numpy.bitwise_or),
    Export("pack", "0rIIIrIIIIIIIIIIi_v", pack),
    Export("query_tile_sizes.2d", "0IIi_II", query_tile_sizes_2d),
    _unary("rsqrt.2d.f32", _reciprocal_square_root),
    _binary("shl.2d.i32", _shift_left),
    _binary("shrs.2d.i32", _shift_right_signed),
    _binary("shru.2d.i32", _shift_right_unsigned),
    _binary("sub.2d.f32", numpy.subtract),
    _binary("sub.2d.i32", numpy.subtract),
    Export("unpack", "0rIIIrIIIIIIIIIi_v", unpack),
    _binary("xor.2d.i32", numpy.bitwise_xor),
])
"""Every export of the ``vmvx`` module, sorted by name (checked at import)."""


def create_vmvx_module() -> NativeModule:
    """The ``vmvx`` module (version 0) over :data:`VMVX_EXPORTS`. Stateless:
    contexts may share one. Does not suspend."""
    return NativeModule("vmvx", 0, exports=VMVX_EXPORTS)
