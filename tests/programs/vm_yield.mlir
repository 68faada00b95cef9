// VM-dialect program with vm.yield: functions that suspend inside loops,
// yieldable internal calls and a shared global that concurrently running
// invocations of one context can observe.
//
// IREE's synchronous iree_vm_invoke does not resume a function after a plain
// vm.yield, so these are checked against hand-computed values, not IREE.
vm.module @vm_yield {
  vm.global.i32 private mutable @ticks = 0 : i32

  // Sums 0..n-1, yielding once per iteration. Returns (sum, iterations).
  vm.export @yield_sum
  vm.func private @yield_sum(%n : i32) -> (i64, i32) {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %z = vm.const.i64 0
    vm.br ^loop(%c0, %z : i32, i64)
  ^loop(%i : i32, %acc : i64):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %i64 = vm.ext.i32.i64.s %i : i32 -> i64
    %acc1 = vm.add.i64 %acc, %i64 : i64
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.yield ^loop(%i1, %acc1 : i32, i64)
  ^done:
    vm.return %acc, %i : i64, i32
  }

  // Yields three times in straight-line code, passing values through the
  // yield's block arguments.
  vm.export @yield_straight
  vm.func private @yield_straight(%x : i32) -> i32 {
    %c1 = vm.const.i32 1
    %c10 = vm.const.i32 10
    %a = vm.add.i32 %x, %c1 : i32
    vm.yield ^bb1(%a : i32)
  ^bb1(%b : i32):
    %b2 = vm.mul.i32 %b, %c10 : i32
    vm.yield ^bb2(%b2 : i32)
  ^bb2(%c : i32):
    %c2 = vm.add.i32 %c, %c1 : i32
    vm.yield ^bb3
  ^bb3:
    vm.return %c2 : i32
  }

  // Internal yielding function called through vm.call.yieldable: adds 1
  // per yield, k times.
  vm.func private @add_slowly(%x : i32, %k : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^loop(%c0, %x : i32, i32)
  ^loop(%i : i32, %v : i32):
    %more = vm.cmp.lt.i32.s %i, %k : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %i1 = vm.add.i32 %i, %c1 : i32
    %v1 = vm.add.i32 %v, %c1 : i32
    vm.yield ^loop(%i1, %v1 : i32, i32)
  ^done:
    vm.return %v : i32
  }
  // ((x + 1) + k) * 2 + k with two yieldable calls and a yield in between.
  vm.export @nested_yield
  vm.func private @nested_yield(%x : i32, %k : i32) -> i32 {
    %c1 = vm.const.i32 1
    %c2 = vm.const.i32 2
    %x1 = vm.add.i32 %x, %c1 : i32
    vm.call.yieldable @add_slowly(%x1, %k) : (i32, i32) -> ^bb1(i32)
  ^bb1(%r : i32):
    %r2 = vm.mul.i32 %r, %c2 : i32
    vm.yield ^bb2
  ^bb2:
    vm.call.yieldable @add_slowly(%r2, %k) : (i32, i32) -> ^bb3(i32)
  ^bb3(%s : i32):
    vm.return %s : i32
  }

  // Increments @ticks n times, yielding after each increment. Returns the
  // number of increments it made.
  vm.export @ticker
  vm.func private @ticker(%n : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    vm.br ^loop(%c0 : i32)
  ^loop(%i : i32):
    %more = vm.cmp.lt.i32.s %i, %n : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %t = vm.global.load.i32 @ticks : i32
    %t1 = vm.add.i32 %t, %c1 : i32
    vm.global.store.i32 %t1, @ticks : i32
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.yield ^loop(%i1 : i32)
  ^done:
    vm.return %i : i32
  }

  // Yields m times without touching @ticks; returns how many ticks other
  // invocations made while this one was suspended (0 if nothing ran
  // concurrently) and the final tick count.
  vm.export @watcher
  vm.func private @watcher(%m : i32) -> (i32, i32) {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %start = vm.global.load.i32 @ticks : i32
    vm.br ^loop(%c0 : i32)
  ^loop(%i : i32):
    %more = vm.cmp.lt.i32.s %i, %m : i32
    vm.cond_br %more, ^body, ^done
  ^body:
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.yield ^loop(%i1 : i32)
  ^done:
    %end = vm.global.load.i32 @ticks : i32
    %d = vm.sub.i32 %end, %start : i32
    vm.return %d, %end : i32, i32
  }

  vm.export @get_ticks
  vm.func private @get_ticks() -> i32 {
    %t = vm.global.load.i32 @ticks : i32
    vm.return %t : i32
  }

  // A yielding loop that fails part-way: yields k times, then vm.fail
  // with status 10 (ABORTED).
  vm.export @yield_then_fail
  vm.func private @yield_then_fail(%k : i32) -> i32 {
    %c0 = vm.const.i32 0
    %c1 = vm.const.i32 1
    %c10 = vm.const.i32 10
    vm.br ^loop(%c0 : i32)
  ^loop(%i : i32):
    %more = vm.cmp.lt.i32.s %i, %k : i32
    vm.cond_br %more, ^body, ^fail
  ^body:
    %i1 = vm.add.i32 %i, %c1 : i32
    vm.yield ^loop(%i1 : i32)
  ^fail:
    vm.fail %c10, "yield_then_fail: aborted after yielding"
  }
}
