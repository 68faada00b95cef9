// VM-dialect program exercising vm.buffer.* ops: alloc, typed stores/loads
// (i8/i16 signed+unsigned, i32, i64, f32), fill, copy, compare, clone,
// length, hash, read-only rodata buffers and out-of-range accesses.
// Buffer offsets/lengths are i64 *element* indices of the accessed type.
vm.module @vm_buffers {
  vm.rodata private @bytes dense<[1, 2, 3, 4, 5, 6, 7, 8, 250, 251, 252, 253, 254, 255, 0, 128]> : tensor<16xi8>
  vm.rodata private @words dense<[100, -200, 300, 2147483647]> : tensor<4xi32>

  // Stores a (i32), b (i64) and x (f32) into a fresh 32-byte buffer and reads
  // them back through every typed load.
  //   bytes  0..3  : a (i32)            bytes  8..15 : b (i64)
  //   bytes 16..19 : x (f32)            bytes 20     : a (i8, truncated)
  //   bytes 22..23 : a (i16, truncated)
  vm.export @store_load
  vm.func private @store_load(%a : i32, %b : i64, %x : f32)
      -> (i32, i32, i32, i32, i32, i64, f32, i32, i32, i32, i32, i32) {
    %c0 = vm.const.i64 0
    %c1 = vm.const.i64 1
    %c3 = vm.const.i64 3
    %c4 = vm.const.i64 4
    %c11 = vm.const.i64 11
    %c20 = vm.const.i64 20
    %len = vm.const.i64 32
    %align = vm.const.i32 16
    %buf = vm.buffer.alloc %len, %align : !vm.buffer
    vm.buffer.store.i32 %a, %buf[%c0] : i32 -> !vm.buffer
    vm.buffer.store.i64 %b, %buf[%c1] : i64 -> !vm.buffer
    vm.buffer.store.f32 %x, %buf[%c4] : f32 -> !vm.buffer
    vm.buffer.store.i8 %a, %buf[%c20] : i32 -> !vm.buffer
    vm.buffer.store.i16 %a, %buf[%c11] : i32 -> !vm.buffer
    %r0 = vm.buffer.load.i8.s %buf[%c0] : !vm.buffer -> i32
    %r1 = vm.buffer.load.i8.u %buf[%c3] : !vm.buffer -> i32
    %r2 = vm.buffer.load.i16.s %buf[%c0] : !vm.buffer -> i32
    %r3 = vm.buffer.load.i16.u %buf[%c1] : !vm.buffer -> i32
    %r4 = vm.buffer.load.i32 %buf[%c0] : !vm.buffer -> i32
    %r5 = vm.buffer.load.i64 %buf[%c1] : !vm.buffer -> i64
    %r6 = vm.buffer.load.f32 %buf[%c4] : !vm.buffer -> f32
    %r7 = vm.buffer.load.i8.s %buf[%c20] : !vm.buffer -> i32
    %r8 = vm.buffer.load.i16.s %buf[%c11] : !vm.buffer -> i32
    // The two little-endian halves of b.
    %c2 = vm.const.i64 2
    %r9 = vm.buffer.load.i32 %buf[%c2] : !vm.buffer -> i32
    %r10 = vm.buffer.load.i32 %buf[%c3] : !vm.buffer -> i32
    // Bits of x through an i32 load.
    %r11 = vm.buffer.load.i32 %buf[%c4] : !vm.buffer -> i32
    vm.return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9, %r10, %r11
        : i32, i32, i32, i32, i32, i64, f32, i32, i32, i32, i32, i32
  }

  // Fills parts of a 64-byte buffer with each fill width and returns
  // loads that observe the fills (and untouched zero bytes).
  vm.export @fills
  vm.func private @fills(%v : i32, %w : i64, %x : f32) -> (i32, i32, i32, i64, f32, i32, i64) {
    %c0 = vm.const.i64 0
    %c1 = vm.const.i64 1
    %c2 = vm.const.i64 2
    %c3 = vm.const.i64 3
    %c4 = vm.const.i64 4
    %c8 = vm.const.i64 8
    %c12 = vm.const.i64 12
    %c13 = vm.const.i64 13
    %len = vm.const.i64 64
    %align = vm.const.i32 8
    %buf = vm.buffer.alloc %len, %align : !vm.buffer
    // bytes 1..2 <- i8 v
    vm.buffer.fill.i8 %buf, %c1, %c2, %v : i32 -> !vm.buffer
    // bytes 4..7 <- two i16 v (elements 2, 3)
    vm.buffer.fill.i16 %buf, %c2, %c2, %v : i32 -> !vm.buffer
    // bytes 8..15 <- two i32 v (elements 2, 3)
    vm.buffer.fill.i32 %buf, %c2, %c2, %v : i32 -> !vm.buffer
    // bytes 16..31 <- two i64 w (elements 2, 3)
    vm.buffer.fill.i64 %buf, %c2, %c2, %w : i64 -> !vm.buffer
    // bytes 32..47 <- four f32 x (elements 8..11)
    vm.buffer.fill.f32 %buf, %c8, %c4, %x : f32 -> !vm.buffer
    %r0 = vm.buffer.load.i32 %buf[%c0] : !vm.buffer -> i32
    %r1 = vm.buffer.load.i32 %buf[%c1] : !vm.buffer -> i32
    %r2 = vm.buffer.load.i32 %buf[%c3] : !vm.buffer -> i32
    %r3 = vm.buffer.load.i64 %buf[%c3] : !vm.buffer -> i64
    %r4 = vm.buffer.load.f32 %buf[%c8] : !vm.buffer -> f32
    // bytes 48..51: untouched zeros; bytes 32..39: two f32 fills as an i64.
    %r5 = vm.buffer.load.i32 %buf[%c12] : !vm.buffer -> i32
    %r6 = vm.buffer.load.i64 %buf[%c4] : !vm.buffer -> i64
    vm.return %r0, %r1, %r2, %r3, %r4, %r5, %r6 : i32, i32, i32, i64, f32, i32, i64
  }

  // Copies rodata bytes into a fresh buffer at an offset, then compares
  // ranges: returns (cmp equal range, cmp unequal range, cmp empty range,
  // byte loaded from the copy, length of the copy target).
  vm.export @copy_compare
  vm.func private @copy_compare(%offset : i64) -> (i32, i32, i32, i32, i64) {
    %c0 = vm.const.i64 0
    %c2 = vm.const.i64 2
    %c8 = vm.const.i64 8
    %c16 = vm.const.i64 16
    %len = vm.const.i64 40
    %align = vm.const.i32 1
    %src = vm.const.ref.rodata @bytes : !vm.buffer
    %dst = vm.buffer.alloc %len, %align : !vm.buffer
    vm.buffer.copy %src, %c0, %dst, %offset, %c16 : !vm.buffer -> !vm.buffer
    %eq = vm.buffer.compare %src, %c0, %dst, %offset, %c16 : !vm.buffer, !vm.buffer
    %ne = vm.buffer.compare %src, %c2, %dst, %offset, %c8 : !vm.buffer, !vm.buffer
    %empty = vm.buffer.compare %src, %c8, %dst, %c0, %c0 : !vm.buffer, !vm.buffer
    %pos = vm.add.i64 %offset, %c8 : i64
    %b = vm.buffer.load.i8.u %dst[%pos] : !vm.buffer -> i32
    %l = vm.buffer.length %dst : !vm.buffer -> i64
    vm.return %eq, %ne, %empty, %b, %l : i32, i32, i32, i32, i64
  }

  // Clones bytes [4, 4+n) of rodata; writes to the clone (allowed, clones
  // are mutable) and reads from both. Returns (clone length, clone byte 0
  // after write, rodata byte 4, clone i8.s at n-1).
  vm.export @clone
  vm.func private @clone(%n : i64) -> (i64, i32, i32, i32) {
    %c0 = vm.const.i64 0
    %c1 = vm.const.i64 1
    %c4 = vm.const.i64 4
    %c99 = vm.const.i32 99
    %align = vm.const.i32 4
    %src = vm.const.ref.rodata @bytes : !vm.buffer
    %cl = vm.buffer.clone %src, %c4, %n, %align : !vm.buffer -> !vm.buffer
    vm.buffer.store.i8 %c99, %cl[%c0] : i32 -> !vm.buffer
    %l = vm.buffer.length %cl : !vm.buffer -> i64
    %a = vm.buffer.load.i8.u %cl[%c0] : !vm.buffer -> i32
    %b = vm.buffer.load.i8.u %src[%c4] : !vm.buffer -> i32
    %last = vm.sub.i64 %n, %c1 : i64
    %c = vm.buffer.load.i8.s %cl[%last] : !vm.buffer -> i32
    vm.return %l, %a, %b, %c : i64, i32, i32, i32
  }

  // Loads element i of the read-only i32 rodata table.
  vm.export @rodata_word
  vm.func private @rodata_word(%i : i64) -> i32 {
    %src = vm.const.ref.rodata @words : !vm.buffer
    %v = vm.buffer.load.i32 %src[%i] : !vm.buffer -> i32
    vm.return %v : i32
  }

  // Sums n bytes written as k*k (mod 256) into a buffer; exercises a loop
  // of i8 stores and unsigned loads.
  vm.export @byte_sum
  vm.func private @byte_sum(%n : i64) -> i64 {
    %c0 = vm.const.i64 0
    %c1 = vm.const.i64 1
    %align = vm.const.i32 1
    %buf = vm.buffer.alloc %n, %align : !vm.buffer
    vm.br ^fill(%c0 : i64)
  ^fill(%k : i64):
    %more = vm.cmp.lt.i64.s %k, %n : i64
    vm.cond_br %more, ^fill_body, ^sum(%c0, %c0 : i64, i64)
  ^fill_body:
    %sq = vm.mul.i64 %k, %k : i64
    %sq32 = vm.trunc.i64.i32 %sq : i64 -> i32
    vm.buffer.store.i8 %sq32, %buf[%k] : i32 -> !vm.buffer
    %k1 = vm.add.i64 %k, %c1 : i64
    vm.br ^fill(%k1 : i64)
  ^sum(%j : i64, %acc : i64):
    %more2 = vm.cmp.lt.i64.s %j, %n : i64
    vm.cond_br %more2, ^sum_body, ^done
  ^sum_body:
    %v = vm.buffer.load.i8.u %buf[%j] : !vm.buffer -> i32
    %v64 = vm.ext.i32.i64.u %v : i32 -> i64
    %acc1 = vm.add.i64 %acc, %v64 : i64
    %j1 = vm.add.i64 %j, %c1 : i64
    vm.br ^sum(%j1, %acc1 : i64, i64)
  ^done:
    vm.return %acc : i64
  }

  // Hash of bytes [offset, offset+length) of the rodata buffer.
  vm.export @hash
  vm.func private @hash(%offset : i64, %length : i64) -> i64 {
    %src = vm.const.ref.rodata @bytes : !vm.buffer
    %h = vm.buffer.hash %src, %offset, %length : !vm.buffer -> i64
    vm.return %h : i64
  }

  // ---- failing paths ----------------------------------------------------
  // i32 load at element i of a 16-byte buffer (valid for 0 <= i < 4).
  // (Do not pass negative i to IREE: its bounds check wraps around and it
  // reads out of bounds instead of failing.)
  vm.export @load_oob
  vm.func private @load_oob(%i : i64) -> i32 {
    %len = vm.const.i64 16
    %align = vm.const.i32 4
    %buf = vm.buffer.alloc %len, %align : !vm.buffer
    %v = vm.buffer.load.i32 %buf[%i] : !vm.buffer -> i32
    vm.return %v : i32
  }
  // i64 store at element i of a 16-byte buffer (valid for 0 <= i < 2).
  vm.export @store_oob
  vm.func private @store_oob(%i : i64) -> i64 {
    %len = vm.const.i64 16
    %align = vm.const.i32 8
    %c7 = vm.const.i64 7
    %buf = vm.buffer.alloc %len, %align : !vm.buffer
    vm.buffer.store.i64 %c7, %buf[%i] : i64 -> !vm.buffer
    %v = vm.buffer.load.i64 %buf[%i] : !vm.buffer -> i64
    vm.return %v : i64
  }
  // Copies n bytes from rodata (16 bytes) into a 16-byte buffer at offset 4.
  vm.export @copy_oob
  vm.func private @copy_oob(%n : i64) -> i32 {
    %c0 = vm.const.i64 0
    %c4 = vm.const.i64 4
    %len = vm.const.i64 16
    %align = vm.const.i32 1
    %src = vm.const.ref.rodata @bytes : !vm.buffer
    %dst = vm.buffer.alloc %len, %align : !vm.buffer
    vm.buffer.copy %src, %c0, %dst, %c4, %n : !vm.buffer -> !vm.buffer
    %v = vm.buffer.load.i8.u %dst[%c4] : !vm.buffer -> i32
    vm.return %v : i32
  }
  // Writes into a read-only rodata buffer.
  vm.export @store_rodata
  vm.func private @store_rodata(%v : i32) -> i32 {
    %c0 = vm.const.i64 0
    %src = vm.const.ref.rodata @words : !vm.buffer
    vm.buffer.store.i32 %v, %src[%c0] : i32 -> !vm.buffer
    %r = vm.buffer.load.i32 %src[%c0] : !vm.buffer -> i32
    vm.return %r : i32
  }
}
