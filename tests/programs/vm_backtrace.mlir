// A three-deep call chain kept apart (no inlining) whose innermost frame fails.
vm.module @vm_backtrace {
  vm.func private @inner(%x : i32) -> i32 attributes {inlining_policy = #util.inline.never} {
    %c10 = vm.const.i32 10
    %big = vm.cmp.lt.i32.s %c10, %x : i32
    vm.cond_br %big, ^bad, ^ok
  ^ok:
    vm.return %x : i32
  ^bad:
    %code = vm.const.i32 11
    vm.fail %code, "inner: x too big"
  }
  vm.func private @middle(%x : i32) -> i32 attributes {inlining_policy = #util.inline.never} {
    %c2 = vm.const.i32 2
    %y = vm.mul.i32 %x, %c2 : i32
    %r = vm.call @inner(%y) : (i32) -> i32
    vm.return %r : i32
  }
  vm.func private @outer(%x : i32) -> i32 {
    %c1 = vm.const.i32 1
    %y = vm.add.i32 %x, %c1 : i32
    %r = vm.call @middle(%y) : (i32) -> i32
    vm.return %r : i32
  }
  vm.export @outer
}
