// vm.list.get.ref of an element whose ref type differs from the op's type:
// IREE puts null in the result register (the list's element is left alone);
// a primitive element of a variant list is FAILED_PRECONDITION.
// Every function returns 1 where the result is non-null, 0 where it is null.
vm.module @list_refs {
  // A variant list [buffer(16), list<i32>[n], i32 7, null, list<?>[]].
  vm.func private @make() -> !vm.list<?> {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %c3 = vm.const.i32 3
    %c4 = vm.const.i32 4
    %c5 = vm.const.i32 5
    %c7 = vm.const.i32 7
    %c16 = vm.const.i64 16
    %a16 = vm.const.i32 16
    %list = vm.list.alloc %c5 : (i32) -> !vm.list<?>
    vm.list.resize %list, %c5 : (!vm.list<?>, i32)
    %buffer = vm.buffer.alloc %c16, %a16 : !vm.buffer
    vm.list.set.ref %list, %c0, %buffer : (!vm.list<?>, i32, !vm.buffer)
    %ints = vm.list.alloc %c3 : (i32) -> !vm.list<i32>
    vm.list.resize %ints, %c3 : (!vm.list<i32>, i32)
    vm.list.set.ref %list, %c1, %ints : (!vm.list<?>, i32, !vm.list<i32>)
    vm.list.set.i32 %list, %c2, %c7 : (!vm.list<?>, i32, i32)
    %any = vm.list.alloc %c0 : (i32) -> !vm.list<?>
    vm.list.set.ref %list, %c4, %any : (!vm.list<?>, i32, !vm.list<?>)
    vm.return %list : !vm.list<?>
  }

  // Element i read as a !vm.list<i8>: only lists come back (any element type).
  vm.export @as_i8_list
  vm.func private @as_i8_list(%i : i32) -> i32 {
    %list = vm.call @make() : () -> !vm.list<?>
    %r = vm.list.get.ref %list, %i : (!vm.list<?>, i32) -> !vm.list<i8>
    %nz = vm.cmp.nz.ref %r : !vm.list<i8>
    vm.return %nz : i32
  }

  // Element i read as a !vm.buffer: only the buffer comes back.
  vm.export @as_buffer
  vm.func private @as_buffer(%i : i32) -> i32 {
    %list = vm.call @make() : () -> !vm.list<?>
    %r = vm.list.get.ref %list, %i : (!vm.list<?>, i32) -> !vm.buffer
    %nz = vm.cmp.nz.ref %r : !vm.buffer
    vm.return %nz : i32
  }

  // Element i read as !vm.list<i32>; its size, or -1 if null.
  vm.export @size_as_i32_list
  vm.func private @size_as_i32_list(%i : i32) -> i32 {
    %list = vm.call @make() : () -> !vm.list<?>
    %r = vm.list.get.ref %list, %i : (!vm.list<?>, i32) -> !vm.list<i32>
    %nz = vm.cmp.nz.ref %r : !vm.list<i32>
    vm.cond_br %nz, ^some, ^none
  ^some:
    %size = vm.list.size %r : (!vm.list<i32>) -> i32
    vm.return %size : i32
  ^none:
    %m1 = vm.const.i32 -1
    vm.return %m1 : i32
  }

  // A mismatched read leaves the element in the list: read it as a buffer
  // after reading it as a list (returns 10 * first + second).
  vm.export @mismatch_then_match
  vm.func private @mismatch_then_match() -> i32 {
    %c0 = vm.const.i32 0
    %c10 = vm.const.i32 10
    %list = vm.call @make() : () -> !vm.list<?>
    %wrong = vm.list.get.ref %list, %c0 : (!vm.list<?>, i32) -> !vm.list<i8>
    %right = vm.list.get.ref %list, %c0 : (!vm.list<?>, i32) -> !vm.buffer
    %a = vm.cmp.nz.ref %wrong : !vm.list<i8>
    %b = vm.cmp.nz.ref %right : !vm.buffer
    %a10 = vm.mul.i32 %a, %c10 : i32
    %r = vm.add.i32 %a10, %b : i32
    vm.return %r : i32
  }

  // Element i of the variant list read as !vm.ref<?>.
  vm.export @as_any_ref
  vm.func private @as_any_ref(%i : i32) -> i32 {
    %list = vm.call @make() : () -> !vm.list<?>
    %r = vm.list.get.ref %list, %i : (!vm.list<?>, i32) -> !vm.ref<?>
    %nz = vm.cmp.nz.ref %r : !vm.ref<?>
    vm.return %nz : i32
  }
}
