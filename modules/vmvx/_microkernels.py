"""The ``vmvx`` module: microkernels that VMVX kernels import, in numpy.

Builds made with ``--iree-vmvx-enable-microkernels`` (and
``--iree-opt-data-tiling``) call these instead of looping element by
element in bytecode. Every buffer argument is a ``vm.buffer`` (a binding
view or scratch); offsets and strides are in elements of the operation's
type. Operand ranges are checked like IREE's (OUT_OF_RANGE naming the
operand); outputs must be writable (PERMISSION_DENIED). Integer arithmetic
wraps; integer division by zero is INVALID_ARGUMENT. Runs synchronously on
the dispatching thread; numpy releases the GIL inside the heavy kernels.
"""

from __future__ import annotations

import numpy
from numpy.lib.stride_tricks import as_strided

from asyncvm.vm import NativeModule, StatusCode, VMBuffer, VMError

_F32 = numpy.dtype(numpy.float32)
_I32 = numpy.dtype(numpy.int32)
_COPY_TYPES = {"x8": numpy.dtype(numpy.uint8), "x16": numpy.dtype(numpy.uint16),
               "x32": numpy.dtype(numpy.uint32), "x64": numpy.dtype(numpy.uint64)}


def _array(buffer: VMBuffer, dtype: numpy.dtype, what: str, write: bool) -> numpy.ndarray:
    if not isinstance(buffer, VMBuffer):
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{what} buffer is null")
    if write and buffer.readonly:
        raise VMError(StatusCode.PERMISSION_DENIED, f"{what} buffer is read-only")
    raw = numpy.asarray(buffer.memory) if not buffer.readonly else \
        numpy.frombuffer(buffer.memory, dtype=numpy.uint8)
    usable = len(raw) - len(raw) % dtype.itemsize
    return raw[:usable].view(dtype)


def _view2d(buffer, offset, stride0, stride1, size0, size1, dtype, what, write=False):
    """A strided 2-D numpy view (no copy) after IREE's bounds check."""
    flat = _array(buffer, dtype, what, write)
    if size0 <= 0 or size1 <= 0:
        return numpy.empty((max(size0, 0), max(size1, 0)), dtype)
    last = offset + (size0 - 1) * stride0 + (size1 - 1) * stride1
    if offset < 0 or stride0 < 0 or stride1 < 0 or last >= flat.shape[0]:
        raise VMError(StatusCode.OUT_OF_RANGE,
                      f"out-of-bounds access detected in {what} (offset={offset}, "
                      f"strides=({stride0}, {stride1}), sizes=({size0}, {size1}), "
                      f"buffer length={len(buffer)})")
    item = dtype.itemsize
    return as_strided(flat[offset:], shape=(size0, size1), strides=(stride0 * item, stride1 * item),
                      writeable=write)


def _divide_signed(left, right):
    if (right == 0).any():
        raise VMError(StatusCode.INVALID_ARGUMENT, "integer division by zero in vmvx.divs")
    quotient = numpy.abs(left.astype(numpy.int64)) // numpy.abs(right.astype(numpy.int64))
    return numpy.where((left < 0) != (right < 0), -quotient, quotient).astype(numpy.int32)


def _divide_unsigned(left, right):
    if (right == 0).any():
        raise VMError(StatusCode.INVALID_ARGUMENT, "integer division by zero in vmvx.divu")
    return (left.view(numpy.uint32) // right.view(numpy.uint32)).view(numpy.int32)


def _ctlz(values):
    unsigned = values.view(numpy.uint32).astype(numpy.uint64)
    result = numpy.full(unsigned.shape, 32, dtype=numpy.int32)
    nonzero = unsigned != 0
    result[nonzero] = 31 - numpy.floor(numpy.log2(unsigned[nonzero])).astype(numpy.int32)
    return result


_BINARY = {
    "add.2d.f32": (_F32, numpy.add), "add.2d.i32": (_I32, numpy.add),
    "sub.2d.f32": (_F32, numpy.subtract), "sub.2d.i32": (_I32, numpy.subtract),
    "mul.2d.f32": (_F32, numpy.multiply), "mul.2d.i32": (_I32, numpy.multiply),
    "div.2d.f32": (_F32, numpy.divide), "divs.2d.i32": (_I32, _divide_signed),
    "divu.2d.i32": (_I32, _divide_unsigned),
    "and.2d.i32": (_I32, numpy.bitwise_and), "or.2d.i32": (_I32, numpy.bitwise_or),
    "xor.2d.i32": (_I32, numpy.bitwise_xor),
    "shl.2d.i32": (_I32, lambda a, b: numpy.left_shift(a, b & 31)),
    "shrs.2d.i32": (_I32, lambda a, b: numpy.right_shift(a, b & 31)),
    "shru.2d.i32": (_I32, lambda a, b: numpy.right_shift(a.view(numpy.uint32),
                                                         (b & 31).view(numpy.uint32)).view(numpy.int32)),
}
_UNARY = {
    "abs.2d.f32": (_F32, numpy.abs), "ceil.2d.f32": (_F32, numpy.ceil),
    "floor.2d.f32": (_F32, numpy.floor), "exp.2d.f32": (_F32, numpy.exp),
    "log.2d.f32": (_F32, numpy.log), "neg.2d.f32": (_F32, numpy.negative),
    "rsqrt.2d.f32": (_F32, lambda x: numpy.float32(1) / numpy.sqrt(x)),
    "ctlz.2d.i32": (_I32, _ctlz),
}


def _pad_pattern(padding: int, dtype: numpy.dtype):
    raw = (padding & ((1 << (8 * dtype.itemsize)) - 1)).to_bytes(dtype.itemsize, "little")
    return numpy.frombuffer(raw, dtype=dtype)[0]


_PACK_TYPES = {0x01: _F32, 0x02: numpy.dtype(numpy.int8), 0x03: _I32}


def create_vmvx_module() -> NativeModule:
    vmvx = NativeModule("vmvx", 0)

    def binary(name, dtype, operation):
        @vmvx.export("0rIIIrIIIrIIIII_v", name=name)
        def kernel(lhs, lhs_offset, lhs_s0, lhs_s1, rhs, rhs_offset, rhs_s0, rhs_s1,
                   out, out_offset, out_s0, out_s1, size0, size1):
            left = _view2d(lhs, lhs_offset, lhs_s0, lhs_s1, size0, size1, dtype, "lhs")
            right = _view2d(rhs, rhs_offset, rhs_s0, rhs_s1, size0, size1, dtype, "rhs")
            target = _view2d(out, out_offset, out_s0, out_s1, size0, size1, dtype, "out", True)
            with numpy.errstate(all="ignore"):
                target[...] = operation(left, right)

    def unary(name, dtype, operation):
        @vmvx.export("0rIIIrIIIII_v", name=name)
        def kernel(source, in_offset, in_s0, in_s1, out, out_offset, out_s0, out_s1, size0, size1):
            values = _view2d(source, in_offset, in_s0, in_s1, size0, size1, dtype, "in")
            target = _view2d(out, out_offset, out_s0, out_s1, size0, size1, dtype, "out", True)
            with numpy.errstate(all="ignore"):
                target[...] = operation(values)

    for name, (dtype, operation) in _BINARY.items():
        binary(name, dtype, operation)
    for name, (dtype, operation) in _UNARY.items():
        unary(name, dtype, operation)
    for suffix, dtype in _COPY_TYPES.items():
        unary(f"copy.2d.{suffix}", dtype, lambda values: values)

    @vmvx.export("0irIIII_v", name="fill.2d.x32")
    def fill(value, out, out_offset, row_stride, size0, size1):
        target = _view2d(out, out_offset, row_stride, 1, size0, size1, _I32, "out", True)
        target[...] = numpy.int32(value)

    @vmvx.export("0rIIrIIrIIIIIiiii_v", name="mmt4d")
    def mmt4d(lhs, lhs_offset, lhs_stride, rhs, rhs_offset, rhs_stride, out, out_offset,
              out_stride, m, n, k, m0, n0, k0, flags):
        kind = flags & 0xFF
        if kind == 0x01:
            in_type, out_type = _F32, _F32
        elif kind == 0x02:
            in_type, out_type = numpy.dtype(numpy.int8), _I32
        else:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"unhandled flags 0x{flags:X} in mmt4d")
        if m <= 0 or n <= 0:
            return
        left = _view2d(lhs, lhs_offset, lhs_stride, 1, m, k * m0 * k0, in_type, "lhs")
        right = _view2d(rhs, rhs_offset, rhs_stride, 1, n, k * n0 * k0, in_type, "rhs")
        target = _view2d(out, out_offset, out_stride, 1, m, n * m0 * n0, out_type, "out", True)
        left = left.reshape(m, k, m0, k0)
        right = right.reshape(n, k, n0, k0)
        if kind == 0x02:
            product = numpy.einsum("ikau,jkbu->ijab", left.astype(numpy.int64),
                                   right.astype(numpy.int64), optimize=True)
            product = product.reshape(m, n * m0 * n0)
            if flags & 0x100:
                product = product + target
            target[...] = (product & 0xFFFFFFFF).astype(numpy.uint32).view(numpy.int32)
            return
        # f32: accumulate in IREE's order (k, then k0), rounding to f32 at
        # every step, so results match its generic microkernel bit for bit.
        accumulator = numpy.zeros((m, n, m0, n0), dtype=numpy.float32)
        if flags & 0x100:
            accumulator += target.reshape(m, n, m0, n0)
        with numpy.errstate(all="ignore"):
            for kk in range(k):
                for kk0 in range(k0):
                    accumulator += (left[:, kk, :, kk0][:, None, :, None]
                                    * right[:, kk, :, kk0][None, :, None, :])
        target[...] = accumulator.reshape(m, n * m0 * n0)

    @vmvx.export("0rIIIrIIIIIIIIIIi_v", name="pack")
    def pack(source, in_offset, in_s0, in_s1, out, out_offset, out_s0, out_s1, in_size0, in_size1,
             out_size0, out_size1, out_size2, out_size3, padding, flags):
        dtype = _PACK_TYPES.get(flags & 0xFF)
        if dtype is None:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"unhandled flags 0x{flags:X} in pack")
        values = _view2d(source, in_offset, in_s0, in_s1, in_size0, in_size1, dtype, "in")
        outer = [out_size0, out_size1]
        tile = [out_size2, out_size3]
        if flags & 0x200:
            outer.reverse()
        if flags & 0x100:
            tile.reverse()
        padded = numpy.full((outer[0] * tile[0], outer[1] * tile[1]), _pad_pattern(padding, dtype),
                            dtype=dtype)
        padded[:in_size0, :in_size1] = values[:outer[0] * tile[0], :outer[1] * tile[1]]
        blocks = padded.reshape(outer[0], tile[0], outer[1], tile[1]).transpose(0, 2, 1, 3)
        if flags & 0x200:
            blocks = blocks.transpose(1, 0, 2, 3)
        if flags & 0x100:
            blocks = blocks.transpose(0, 1, 3, 2)
        inner = out_size1 * out_size2 * out_size3
        target = _view2d(out, out_offset, out_s0, 1, out_size0, inner, dtype, "out", True)
        target[...] = blocks.reshape(out_size0, inner)

    @vmvx.export("0rIIIrIIIIIIIIIi_v", name="unpack")
    def unpack(source, in_offset, in_s0, in_s1, out, out_offset, out_s0, out_s1, in_size0,
               in_size1, in_size2, in_size3, out_size0, out_size1, flags):
        dtype = {0x01: _F32, 0x03: _I32}.get(flags & 0xFF)
        if dtype is None:
            raise VMError(StatusCode.INVALID_ARGUMENT, f"unhandled flags 0x{flags:X} in unpack")
        inner = in_size1 * in_size2 * in_size3
        blocks = _view2d(source, in_offset, in_s0, 1, in_size0, inner, dtype, "in")
        blocks = blocks.reshape(in_size0, in_size1, in_size2, in_size3)
        if flags & 0x200:
            blocks = blocks.transpose(1, 0, 2, 3)
        if flags & 0x100:
            blocks = blocks.transpose(0, 1, 3, 2)
        rows = blocks.shape[0] * blocks.shape[2]
        columns = blocks.shape[1] * blocks.shape[3]
        unpacked = blocks.transpose(0, 2, 1, 3).reshape(rows, columns)
        target = _view2d(out, out_offset, out_s0, out_s1, out_size0, out_size1, dtype, "out", True)
        target[...] = unpacked[:out_size0, :out_size1]

    @vmvx.export("0IIi_II", name="query_tile_sizes.2d")
    def query_tile_sizes(size0, size1, flags):
        role = flags & 0xFF
        return {1: (8, 4), 2: (8, 4), 3: (8, 8)}.get(role, (8, 8))

    return vmvx
